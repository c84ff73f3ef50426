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
}

/// Loss accounting of a window.
#[derive(Clone, Copy)]
pub(crate) struct Counts {
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
    /// A tighter cap while a server's queue depth is unknown.
    limit: Option<usize>,
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
            limit: None,
            resends: 0,
            repeats: 0,
            replies: 0,
        }
    }

    /// Requests currently awaiting a reply.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Current window: gain × BDP + 3 (gain 1.5–2), at least 2, at most the cap.
    pub fn size(&self) -> usize {
        let want = match self.min_rtt {
            Some(rtt) if self.max_rate > 0.0 => {
                (self.gain * self.max_rate * rtt.as_secs_f64()).ceil() as usize + 3
            }
            _ => INITIAL,
        };
        want.clamp(2, self.limit.map_or(self.cap, |l| l.min(self.cap)))
    }

    /// Hold the window at `limit` requests at most (`None`: only the cap).
    pub fn set_limit(&mut self, limit: Option<usize>) {
        self.limit = limit.map(|l| l.max(1));
    }

    /// Resends and replies so far (loss accounting).
    pub fn counts(&self) -> Counts {
        Counts {
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
        });
        Ok(())
    }

    /// Whether any request in flight has a matching tag.
    pub fn any(&self, mut f: impl FnMut(&T) -> bool) -> bool {
        self.pending.iter().any(|p| f(&p.tag))
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
            let alive = self.last_sample.is_some_and(|t| t > p.sent_at);
            let shift = if alive {
                0
            } else {
                (p.tries + self.backoff).min(5)
            };
            let due = p.sent_at + p.queue_ahead + rto * (1u32 << shift);
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
/// (ArduPilot queues 5 and silently drops the rest) before an upload window
/// grows past it: the window starts at [`QueueProbe::SAFE`] and measures
/// the loss rate there, then opens up to its cap and keeps measuring in
/// spans of replies. Much more loss than at the safe depth, or requests lost
/// again and again, hold the window at the safe depth from then on.
pub(crate) struct QueueProbe {
    phase: ProbePhase,
    /// Whether a whole span ran open without trouble.
    clean_span: bool,
    /// Window counts when the current span began (None: not counting yet).
    from: Option<Counts>,
}

#[derive(Clone, Copy)]
enum ProbePhase {
    /// Held at the safe depth, measuring the base loss rate.
    Safe,
    /// Open, comparing each span's loss with `base`.
    Open { base: f64 },
    /// The server drops beyond the safe depth: held there.
    Limited,
}

impl QueueProbe {
    /// Requests a server is assumed to queue without dropping.
    pub const SAFE: usize = 5;
    /// Replies per measured span.
    const SPAN: u64 = 64;
    /// Requests resent twice or more within a span that mean drops, not
    /// random loss (at 2 % loss each way that is ~0.2 % of requests).
    const REPEATS: u64 = 3;

    /// A probe that starts from an earlier verdict for the same server, if any.
    pub fn new(known: Option<bool>) -> QueueProbe {
        QueueProbe {
            phase: match known {
                None => ProbePhase::Safe,
                Some(true) => ProbePhase::Limited,
                Some(false) => ProbePhase::Open { base: 0.0 },
            },
            clean_span: known == Some(false),
            from: None,
        }
    }

    /// The window limit for the current phase.
    pub fn limit(&self) -> Option<usize> {
        match self.phase {
            ProbePhase::Safe | ProbePhase::Limited => Some(Self::SAFE),
            ProbePhase::Open { .. } => None,
        }
    }

    /// The verdict, once there is one: true = drops beyond the safe depth.
    pub fn verdict(&self) -> Option<bool> {
        match self.phase {
            ProbePhase::Limited => Some(true),
            _ if self.clean_span => Some(false),
            _ => None,
        }
    }

    /// Feed the window's counts after a reply; updates the window's limit.
    pub fn update<T>(&mut self, win: &mut Window<T>) {
        let now = win.counts();
        let from = match (self.phase, self.from) {
            (ProbePhase::Limited, _) => return,
            (_, Some(from)) => from,
            // Open spans count only once the window is past the safe depth.
            (ProbePhase::Open { .. }, None) if win.in_flight() <= Self::SAFE + 1 => return,
            (_, None) => {
                self.from = Some(now);
                return;
            }
        };
        let replies = now.replies - from.replies;
        let repeats = now.repeats - from.repeats;
        let open = matches!(self.phase, ProbePhase::Open { .. });
        if replies < Self::SPAN && !(open && repeats >= Self::REPEATS) {
            return;
        }
        let loss = (now.resends - from.resends) as f64 / replies.max(1) as f64;
        self.phase = match self.phase {
            ProbePhase::Safe => ProbePhase::Open { base: loss },
            ProbePhase::Open { base } if loss > 2.0 * base + 0.1 || repeats >= Self::REPEATS => {
                ProbePhase::Limited
            }
            other => {
                self.clean_span = true;
                other
            }
        };
        trace!(
            "upload queue probe: loss {loss:.3}, {repeats} repeated over {replies} replies, limit {:?}",
            self.limit()
        );
        self.from = match self.phase {
            ProbePhase::Open { .. } if !open => None,
            _ => Some(now),
        };
        win.set_limit(self.limit());
    }
}
