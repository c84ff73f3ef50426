//! A window of requests in flight.
//!
//! Each request gets its own seq and is matched by its reply's seq (`seq+1`)
//! and request opcode, never by offset (MAVSDK's server leaves it at 0).
//! A request unanswered for one RTO is resent with the same seq (backing off
//! per request); only first transmissions give RTT samples (Karn's rule).
//! The window follows the bandwidth-delay product: the lowest RTT seen times
//! the highest delivery rate seen, with a gain that shrinks on loss.

use std::time::{Duration, Instant};

use super::engine::{Conversation, Reply, trace};
use crate::protocol::{FtpPacket, Opcode};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// One request in flight.
struct Pending<T> {
    req: FtpPacket,
    tag: T,
    sent_at: Instant,
    tries: u32,
    /// Expected wait behind the requests already in flight at first send.
    queue_ahead: Duration,
    /// Replies delivered when this request was first sent (rate sampling).
    delivered_at_send: u64,
    first_sent: Instant,
    /// Number of this request among all sent (0-based).
    serial: u64,
}

/// Loss accounting of a window.
#[derive(Clone, Copy, Default)]
pub(crate) struct Counts {
    /// Requests sent (first transmissions).
    pub sent: u64,
    pub resends: u64,
    pub repeats: u64,
    pub replies: u64,
}

/// Requests in flight plus the estimates that size the window.
pub(crate) struct Window<T> {
    pending: Vec<Pending<T>>,
    cap: usize,
    min_rtt: Option<Duration>,
    /// Highest recent delivery rate, replies per second.
    max_rate: f64,
    gain: f64,
    delivered: u64,
    /// RFC 6298 back-off (a shift) kept until a fresh RTT sample arrives;
    /// grows only while the link is silent.
    backoff: u32,
    /// When the last reply to a first transmission arrived.
    last_sample: Option<Instant>,
    /// Watches for a server that drops what exceeds a small queue (its
    /// limit tightens the cap while that is checked or known).
    probe: Option<QueueProbe>,
    /// Requests sent so far (first transmissions).
    sent: u64,
    /// Requests resent so far.
    resends: u64,
    /// Resends of requests already resent before.
    repeats: u64,
    /// Replies matched so far.
    replies: u64,
}

/// Window size before anything is measured.
const INITIAL: usize = 3;

impl<T> Window<T> {
    /// An empty window that never holds more than `cap` requests; its RTT
    /// starts from the conversation's estimate (from small requests).
    pub fn new(conv: &Conversation, cap: usize) -> Window<T> {
        Window {
            pending: Vec::new(),
            cap: cap.max(1),
            min_rtt: conv.srtt,
            max_rate: 0.0,
            gain: 2.0,
            delivered: 0,
            backoff: 0,
            last_sample: None,
            probe: None,
            sent: 0,
            resends: 0,
            repeats: 0,
            replies: 0,
        }
    }

    /// Requests currently awaiting a reply.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Current window: gain × BDP + 3 (gain 1.5–2), at least 2, at most the
    /// cap (and the probe's limit), which may be 1.
    pub fn size(&self) -> usize {
        let want = match self.min_rtt {
            Some(rtt) if self.max_rate > 0.0 => {
                (self.gain * self.max_rate * rtt.as_secs_f64()).ceil() as usize + 3
            }
            _ => INITIAL,
        };
        let limit = self.probe.and_then(|p| p.limit());
        let most = limit.map_or(self.cap, |l| l.min(self.cap));
        want.max(2).min(most)
    }

    /// A window for file data: like [`Window::new`], and it watches the
    /// server's request queue with a [`QueueProbe`] that goes on from what
    /// earlier transfers to the same server learnt (see [`Window::save_probe`]).
    pub fn for_data(conv: &Conversation, cap: usize) -> Window<T> {
        let mut win = Window::new(conv, cap);
        win.probe = Some(QueueProbe::resume(conv.queue_probe));
        win
    }

    /// Keep what the queue probe learnt for the next transfer.
    pub fn save_probe(&self, conv: &mut Conversation) {
        if self.probe.is_some() {
            conv.queue_probe = self.probe;
        }
    }

    /// Resends and replies so far (loss accounting).
    pub fn counts(&self) -> Counts {
        Counts {
            sent: self.sent,
            resends: self.resends,
            repeats: self.repeats,
            replies: self.replies,
        }
    }

    /// Whether another request may be sent now.
    pub fn has_room(&self) -> bool {
        self.pending.len() < self.size()
    }

    /// Assign a seq to `req`, send it and track it under `tag`.
    pub fn send(&mut self, conv: &mut Conversation, mut req: FtpPacket, tag: T) -> FtpOutcome<()> {
        req.seq = conv.take_seq();
        conv.link.send_ftp(conv.target.0, conv.target.1, &req)?;
        trace!(
            "send {:?} seq {} offset {} ({} in flight, window {})",
            req.opcode,
            req.seq,
            req.offset,
            self.pending.len() + 1,
            self.size()
        );
        let now = Instant::now();
        // Serialization and queueing: replies to earlier requests come first.
        let queue_ahead = queue_delay(self.pending.len(), self.max_rate);
        self.pending.push(Pending {
            req,
            tag,
            sent_at: now,
            tries: 0,
            queue_ahead,
            delivered_at_send: self.delivered,
            first_sent: now,
            serial: self.sent,
        });
        self.sent += 1;
        Ok(())
    }

    /// Whether any request in flight has a matching tag.
    pub fn any(&self, mut f: impl FnMut(&T) -> bool) -> bool {
        self.pending.iter().any(|p| f(&p.tag))
    }

    /// Serial of the oldest request still in flight (see [`Counts::sent`]).
    pub fn oldest_in_flight(&self) -> Option<u64> {
        self.pending.iter().map(|p| p.serial).min()
    }

    /// Take `replies_per_second` as a delivery rate already seen (e.g. the
    /// rate burst packets arrive at), so the window starts at the BDP.
    pub fn assume_rate(&mut self, replies_per_second: f64) {
        self.max_rate = self.max_rate.max(replies_per_second);
    }

    /// Tags of the requests in flight.
    pub fn tags(&self) -> impl Iterator<Item = &T> {
        self.pending.iter().map(|p| &p.tag)
    }

    /// Forget every request whose tag matches (e.g. reads past a known end).
    pub fn drop_where(&mut self, mut f: impl FnMut(&T) -> bool) {
        self.pending.retain(|p| !f(&p.tag));
    }

    /// Wait for the next reply to a request in flight, resending overdue ones.
    /// Fails with TIMEOUT/NO_SYSTEM when a request exhausts its retries.
    pub fn next_reply(&mut self, conv: &mut Conversation) -> FtpOutcome<(T, Reply)> {
        loop {
            conv.check_cancel()?;
            if self.pending.is_empty() {
                return Err(FtpError::new(
                    FtpResult::ProtocolError,
                    "no request in flight",
                ));
            }
            let next_due = self.resend_overdue(conv)?;
            let wait = next_due.saturating_duration_since(Instant::now());
            match conv.replies.recv_timeout(wait) {
                Ok(inc) => {
                    if (inc.source_system, inc.source_component) != conv.target {
                        continue;
                    }
                    if let Some(hit) = self.accept(conv, inc.packet) {
                        return Ok(hit);
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(FtpError::new(FtpResult::Cancelled, "link closed"));
                }
            }
        }
    }

    /// Resend every overdue request with its own seq; returns when the next
    /// one falls due (at most 50 ms ahead). Fails with TIMEOUT/NO_SYSTEM when
    /// a request exhausts its retries.
    ///
    /// While first transmissions keep getting answered (fresh RTT samples)
    /// the RTO is right and a missing reply is a loss: the request is resent
    /// after one RTO (plus its queueing delay). Otherwise (a dead link, or
    /// replies slower than the RTO so that only resends get answered) its
    /// wait doubles with each try, as in RFC 6298.
    pub fn resend_overdue(&mut self, conv: &mut Conversation) -> FtpOutcome<Instant> {
        let retries = conv.settings().retries.max(1);
        let rto = conv.rto();
        let now = Instant::now();
        let mut next_due = now + Duration::from_millis(50);
        let mut silent_loss = false;
        let in_flight = self.pending.len();
        for p in &mut self.pending {
            // Alive: a first transmission was answered since (or just
            // before) this request's last send.
            let alive = self.last_sample.is_some_and(|t| t + rto > p.sent_at);
            let shift = if alive {
                0
            } else {
                (p.tries + self.backoff).min(5)
            };
            let due = p.sent_at + p.queue_ahead + conv.backed_off(rto, shift);
            if due > now {
                next_due = next_due.min(due);
                continue;
            }
            if p.tries >= retries {
                return Err(conv.timeout_error(&p.req));
            }
            p.tries += 1;
            self.resends += 1;
            if p.tries >= 2 {
                self.repeats += 1;
            }
            p.sent_at = now;
            p.queue_ahead = queue_delay(in_flight, self.max_rate);
            silent_loss |= !alive;
            conv.link.send_ftp(conv.target.0, conv.target.1, &p.req)?;
            trace!(
                "resend {:?} seq {} offset {} try {} (rto {:?}{})",
                p.req.opcode,
                p.req.seq,
                p.req.offset,
                p.tries,
                rto,
                if alive { "" } else { ", backing off" }
            );
            next_due = next_due.min(now + p.queue_ahead + rto);
        }
        if silent_loss {
            self.backoff = (self.backoff + 1).min(3);
            self.gain = (self.gain * 0.8).max(1.5);
        }
        Ok(next_due)
    }

    /// Match a reply to its request by seq and opcode and update the
    /// estimates; `None` when it answers nothing in flight.
    pub fn accept(&mut self, conv: &mut Conversation, p: FtpPacket) -> Option<(T, Reply)> {
        let idx = self
            .pending
            .iter()
            .position(|q| q.req.seq.wrapping_add(1) == p.seq && q.req.opcode == p.req_opcode);
        let Some(idx) = idx else {
            // A stray reply: still keep our next seq above the server's.
            if p.req_opcode != Opcode::None {
                conv.saw_seq(p.seq);
            }
            return None;
        };
        let q = self.pending.swap_remove(idx);
        conv.saw_seq(p.seq);
        let now = Instant::now();
        trace!(
            "reply {:?} to seq {} offset {} after {:.1} ms (try {})",
            p.opcode,
            q.req.seq,
            q.req.offset,
            (now - q.sent_at).as_secs_f64() * 1e3,
            q.tries
        );
        self.delivered += 1;
        self.replies += 1;
        if q.tries == 0 {
            let rtt = now - q.sent_at;
            conv.sample_rtt(rtt);
            self.last_sample = Some(now);
            self.backoff = 0;
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        }
        let span = (now - q.first_sent).as_secs_f64();
        if span > 0.0 {
            let rate = (self.delivered - q.delivered_at_send) as f64 / span;
            // Slowly forget an old peak so the window follows a slower link.
            self.max_rate = (self.max_rate * 0.999).max(rate);
        }
        self.gain = (self.gain + 0.02).min(2.0);
        if let Some(mut probe) = self.probe {
            probe.update(self);
            self.probe = Some(probe);
        }
        let reply = if p.opcode == Opcode::Nak {
            Reply::Nak(p)
        } else {
            Reply::Ack(p)
        };
        Some((q.tag, reply))
    }
}

/// Expected wait for the replies to `ahead` requests at `rate` replies/s.
fn queue_delay(ahead: usize, rate: f64) -> Duration {
    if rate > 0.0 {
        Duration::from_secs_f64(ahead as f64 / rate)
    } else {
        Duration::ZERO
    }
}

/// Finds out whether a server drops requests beyond a small queue
/// (ArduPilot queues 5 and silently drops the rest) once a read or write
/// window grows past it. The window opens to its cap and the loss is measured in
/// spans of replies; a span with severe loss, or requests lost again and
/// again, triggers a check at the safe depth: if the loss
/// vanishes there, the server drops what exceeds its queue and the window
/// stays at [`QueueProbe::SAFE`]; if not, the link itself is lossy and the
/// window reopens with that loss as the new baseline.
#[derive(Clone, Copy)]
pub(crate) struct QueueProbe {
    phase: ProbePhase,
    /// Window counts when the current span began (None: not counting yet).
    from: Option<Counts>,
}

#[derive(Clone, Copy)]
enum ProbePhase {
    /// Open, comparing each span's loss with `base` (the link's own loss).
    Open { base: f64 },
    /// Held at the safe depth after an open span lost `loss` with
    /// `repeats` requests lost more than once; measures once every request
    /// sent before (`after`, a serial) is answered.
    Check { loss: f64, repeats: u64, after: u64 },
    /// The server drops beyond the safe depth: held there.
    Limited,
}

impl QueueProbe {
    /// Requests a server is assumed to queue without dropping.
    pub const SAFE: usize = 5;
    /// Replies per measured open span.
    const SPAN: u64 = 64;
    /// Replies measured at the safe depth in a check.
    const CHECK_SPAN: u64 = 32;
    /// Requests resent twice or more within a span that mean drops, not
    /// random loss (at 2 % loss each way that is ~0.2 % of requests).
    const REPEATS: u64 = 3;
    /// Loss rate above the link's own that counts as severe.
    const SEVERE_LOSS: f64 = 0.2;

    /// A probe that goes on from where the last transfer to the same server
    /// left it, if any.
    pub fn resume(saved: Option<QueueProbe>) -> QueueProbe {
        let mut probe = saved.unwrap_or(QueueProbe {
            phase: ProbePhase::Open { base: 0.0 },
            from: None,
        });
        // Counts and serials belong to the last transfer's window.
        probe.from = None;
        if let ProbePhase::Check { after, .. } = &mut probe.phase {
            *after = 0;
        }
        probe
    }

    /// The window limit for the current phase.
    pub fn limit(&self) -> Option<usize> {
        match self.phase {
            ProbePhase::Check { .. } | ProbePhase::Limited => Some(Self::SAFE),
            ProbePhase::Open { .. } => None,
        }
    }

    /// Feed the window's state after a reply; the window applies
    /// [`Self::limit`].
    fn update<T>(&mut self, win: &Window<T>) {
        let now = win.counts();
        let from = match (self.phase, self.from) {
            (ProbePhase::Limited, _) => return,
            (_, Some(from)) => from,
            // Open spans count only once the window is past the safe depth,
            // checks once the open window's requests are all answered.
            (ProbePhase::Open { .. }, None) if win.in_flight() <= Self::SAFE + 1 => return,
            (ProbePhase::Check { after, .. }, None)
                if win.oldest_in_flight().is_some_and(|o| o < after) =>
            {
                return;
            }
            (_, None) => {
                self.from = Some(now);
                return;
            }
        };
        let replies = now.replies - from.replies;
        let repeats = now.repeats - from.repeats;
        let loss = (now.resends - from.resends) as f64 / replies.max(1) as f64;
        // Severe loss only: a few percent (random link loss, or a mild
        // overflow the resends absorb) is not worth a narrower window.
        let severe = |loss: f64, repeats: u64, base: f64| {
            loss > 2.0 * base + Self::SEVERE_LOSS || repeats >= Self::REPEATS
        };
        let next = match self.phase {
            ProbePhase::Open { base }
                if repeats >= Self::REPEATS
                    || (replies >= Self::SPAN && severe(loss, repeats, base)) =>
            {
                ProbePhase::Check {
                    loss,
                    repeats,
                    after: now.sent,
                }
            }
            ProbePhase::Open { .. } if replies >= Self::SPAN => self.phase,
            ProbePhase::Check {
                loss: open_loss,
                repeats: open_repeats,
                ..
            } if replies >= Self::CHECK_SPAN => {
                let safe_is_clean = repeats == 0 && loss <= Self::SEVERE_LOSS / 2.0;
                if safe_is_clean && severe(open_loss, open_repeats, loss) {
                    ProbePhase::Limited
                } else {
                    ProbePhase::Open { base: loss }
                }
            }
            _ => return,
        };
        self.phase = next;
        trace!(
            "queue probe: loss {loss:.3}, {repeats} repeated over {replies} replies, limit {:?}",
            self.limit()
        );
        self.from = match self.phase {
            ProbePhase::Open { .. } | ProbePhase::Check { .. } => None,
            ProbePhase::Limited => Some(now),
        };
    }
}
