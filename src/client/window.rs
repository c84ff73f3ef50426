//! A window of requests in flight.
//!
//! Each request gets its own seq and is matched by its reply's seq (`seq+1`)
//! and request opcode; before its bytes are used the reply is checked
//! against what was asked (session, a ReadFile's offset and size, at most
//! 239 data bytes). A reply that fails the checks is ignored like a lost
//! one; a request that only ever got such replies ends in PROTOCOL_ERROR.
//! Write offsets are not checked (MAVSDK's server leaves them at 0).
//! A request unanswered for one RTO is resent with the same seq (a ReadFile
//! under a fresh one, see [`fresh_seq_on_resend`]), backing off per
//! request; only first transmissions give RTT samples (Karn's rule).
//! The window follows the bandwidth-delay product: the lowest RTT seen times
//! the highest delivery rate seen, with a gain that shrinks on loss.
//!
//! Every request of every operation goes through a window: single requests
//! (open, list, commands, cleanup) through [`transact`], a window of one.
//! How often a request is tried is the window's [`RetryPolicy`], chosen per
//! call; the client's settings are only read.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::conversation::Conversation;
use super::probe::{Counts, QueueProbe, WindowView};
use super::rtt::MIN_RTO;
use super::shared::Settings;
use super::trace::trace;
use crate::link::READ_PAUSE;
use crate::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// What happened to one request.
pub(crate) enum Reply {
    Ack(FtpPacket),
    Nak(FtpPacket),
}

/// Is this packet a NAK with `code`?
pub(crate) fn is_nak(p: &FtpPacket, code: NakCode) -> bool {
    p.nak_code() == Some(code)
}

/// How a request is retried.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryPolicy {
    /// Resends after the first transmission before TIMEOUT/NO_SYSTEM.
    pub retries: u32,
    /// Whether cancel() ends the wait (cleanup runs even after a cancel).
    pub cancellable: bool,
    /// Whether waits double while the link is silent (RFC 6298 back-off).
    pub back_off: bool,
}

impl RetryPolicy {
    /// The client's settings: `retries` resends (at least 1), cancellable, backing off.
    pub fn standard(s: &Settings) -> RetryPolicy {
        RetryPolicy {
            retries: s.retries.max(1),
            cancellable: true,
            back_off: true,
        }
    }

    /// A probe whose silence is an answer (a server that ignores an opcode):
    /// one resend.
    pub fn probe() -> RetryPolicy {
        RetryPolicy {
            retries: 1,
            cancellable: true,
            back_off: true,
        }
    }

    /// Best-effort cleanup after the operation's result is decided: three
    /// tries one RTO apart (one when the target was never heard), not cancellable.
    pub fn cleanup(target_heard: bool) -> RetryPolicy {
        RetryPolicy {
            retries: if target_heard { 2 } else { 0 },
            cancellable: false,
            back_off: false,
        }
    }
}

/// Send `req` (its seq is assigned here) and wait for its reply, retrying
/// with the same seq under `policy`: a window of one request. A NAK is
/// returned as [`Reply::Nak`].
pub(crate) fn transact(
    conv: &mut Conversation,
    req: FtpPacket,
    policy: RetryPolicy,
) -> FtpOutcome<Reply> {
    let mut win: Window<()> = Window::with_policy(conv, 1, policy);
    win.send(conv, req, ())?;
    win.next_reply(conv).map(|((), reply)| reply)
}

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
    /// Why the last reply with this request's seq was refused, if one was.
    refused: Option<String>,
    /// Replies to requests sent after this one's last send that arrived
    /// while it stayed unanswered (see [`OVERTAKEN_IS_LOST`]).
    overtaken: u32,
    /// Whether this try was sent again early at the tail (see [`Window::set_tail`]).
    probed: bool,
    /// Whether nothing else was in flight when it was first sent (its RTT
    /// then feeds [`TargetMemory::lone_rtt`](super::conversation::TargetMemory::lone_rtt)).
    alone: bool,
    /// The seq of the copy before, when a resend took a fresh one (see
    /// [`fresh_seq_on_resend`]): a late answer to it is still taken.
    earlier_seq: Option<u16>,
}

/// Whether a request is asked again under a fresh seq. A read is: reads
/// change nothing, and the seq it went out with may be one a server
/// answers from its reply cache with something else. PX4 and ArduPilot
/// replay their last reply to a request whose seq + 1 is that reply's
/// seq, and after a burst that reply is the round's EOF NAK or last
/// packet: a hole read sent while the round streamed can carry exactly the
/// seq before it, and would get the replay at every try with the same seq
/// (docs/PROTOCOL_NOTES.md §5). Other requests keep their seq, as the
/// protocol asks, so that a server answers a repeat from its cache instead
/// of acting twice.
fn fresh_seq_on_resend(opcode: Opcode) -> bool {
    opcode == Opcode::ReadFile
}

/// Requests in flight plus the estimates that size the window.
pub(crate) struct Window<T> {
    /// In the order first sent (replies mostly come in that order, so the
    /// one answered is usually at the front).
    pending: VecDeque<Pending<T>>,
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
    policy: RetryPolicy,
    /// Requests sent so far (first transmissions).
    sent: u64,
    /// Requests resent so far.
    resends: u64,
    /// Resends of requests already resent before.
    repeats: u64,
    /// Replies matched so far.
    replies: u64,
    /// What the last full scan of [`Window::resend_overdue`] found, so that
    /// a wake-up before anything can be due costs no scan.
    scan: Option<Scan>,
    /// The caller has nothing more to ask (the end of a transfer): see
    /// [`Window::set_tail`].
    tail: bool,
    /// Replies may gather on a slow link (see [`Window::lingering`]).
    lingers: bool,
}

/// The result of a scan for overdue requests and what it depended on.
#[derive(Clone, Copy)]
struct Scan {
    /// No request is due before this.
    earliest: Instant,
    /// The RTO the dues were computed with: a markedly shorter one (new RTT
    /// samples) may make requests due earlier.
    rto: Duration,
    /// Whether some request's wait was backed off: a fresh RTT sample
    /// (`last_sample`) then shortens it.
    backed_off: bool,
    last_sample: Option<Instant>,
}

/// Window size before anything is measured.
const INITIAL: usize = 3;
/// A request (its first transmission) is taken for lost and resent at once
/// (without waiting for its RTO) when this many replies to requests sent
/// after it have arrived:
/// servers answer in order and radio links do not reorder, so a request
/// overtaken three times is lost; three (TCP's duplicate-ACK threshold)
/// tolerates a little reordering. This matters most at the end of a
/// transfer, when nothing else keeps the link busy during an RTO.
const OVERTAKEN_IS_LOST: u32 = 3;
/// On a slow link (replies at least [`LINGER_MIN_INTERVAL`] apart) whose
/// client need not answer at once (a slow burst streaming, or a read or
/// write window holding more requests than keep the link busy), the
/// replies that arrive for up to this long are taken with one wake-up
/// instead of one wake-up each: on a 5760 B/s radio (a packet every 46 ms)
/// two or three a wake-up, and a ground station with many vehicles spends
/// its CPU per wake-up.
pub(crate) const LINGER: Duration = Duration::from_millis(100);
/// Reply interval from which a client lingers (see [`LINGER`]).
pub(crate) const LINGER_MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Replies after which a window's delivery rate is trusted to tell a slow
/// link (see [`LINGER`]).
const RATE_KNOWN_AFTER: u64 = 32;
/// Longest wait for a reply when no request falls due sooner. Nothing else
/// needs a wake-up: a cancel interrupts the wait, a closing link ends it.
pub(crate) const IDLE_WAKE: Duration = Duration::from_secs(1);

impl<T> Window<T> {
    /// An empty window that never holds more than `cap` requests, with the
    /// standard retry policy; its RTT starts from the conversation's
    /// estimate (from small requests).
    pub fn new(conv: &Conversation, cap: usize) -> Window<T> {
        Window::with_policy(conv, cap, RetryPolicy::standard(&conv.settings()))
    }

    /// Like [`Window::new`] with another retry policy.
    pub fn with_policy(conv: &Conversation, cap: usize, policy: RetryPolicy) -> Window<T> {
        Window {
            pending: VecDeque::new(),
            cap: cap.max(1),
            min_rtt: conv.rtt.srtt(),
            max_rate: 0.0,
            gain: 2.0,
            delivered: 0,
            backoff: 0,
            last_sample: None,
            probe: None,
            policy,
            sent: 0,
            resends: 0,
            repeats: 0,
            replies: 0,
            scan: None,
            tail: false,
            lingers: false,
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
        win.probe = Some(QueueProbe::resume(conv.memory.queue_probe));
        win
    }

    /// Let replies gather on a slow link while spare requests cover the wait
    /// (see [`LINGER`]). For read windows: a write window's ACKs are what
    /// frees its next writes, and taking them late cost an upload at
    /// 5760 B/s with 5 % loss about half a point of the link.
    pub fn lingering(mut self) -> Window<T> {
        self.lingers = true;
        self
    }

    /// Keep what the queue probe learnt for the next transfer.
    pub fn save_probe(&self, conv: &mut Conversation) {
        if self.probe.is_some() {
            conv.memory.queue_probe = self.probe;
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
        if changes_sessions(req.opcode) {
            conv.note_session_request(req.seq);
        }
        conv.send(&req)?;
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
        let alone = self.pending.is_empty();
        if let Some(scan) = &mut self.scan {
            // A new request is alive (shift 0) at worst: due no sooner than this.
            scan.earliest = scan
                .earliest
                .min(now + queue_ahead + scan.rto.min(conv.rto()));
        }
        self.pending.push_back(Pending {
            req,
            tag,
            sent_at: now,
            tries: 0,
            queue_ahead,
            delivered_at_send: self.delivered,
            first_sent: now,
            serial: self.sent,
            refused: None,
            overtaken: 0,
            probed: false,
            alone,
            earlier_seq: None,
        });
        self.sent += 1;
        Ok(())
    }

    /// Tell the window whether the caller has nothing more to send (the tail
    /// of a transfer). At the tail nothing else would use the link while a
    /// lost request waits out its RTO, so a request is sent once more as
    /// soon as its reply is clearly late: a quarter of the lowest RTT (at
    /// least three reply intervals, and at least the shortest RTO) after it
    /// was expected, going by the lowest RTT and the replies queued ahead
    /// of it. The early copy does
    /// not count as a try (the request times out as it would without it);
    /// if it proves needless it cost one reply's airtime on an idle link.
    pub fn set_tail(&mut self, tail: bool) {
        if tail != self.tail {
            self.tail = tail;
            self.scan = None;
        }
    }

    /// For a single request that ends a transfer on the critical path (an
    /// upload's close, whose ACK makes the data final): it goes out on a link
    /// the transfer's window has just drained, but the RTO comes from the
    /// smoothed RTT, which that window's queue inflated (at 5760 B/s with
    /// five writes queued: an RTO near 300 ms for a close answered in
    /// 27 ms). So the window expects the RTT a lone request had
    /// ([`TargetMemory::lone_rtt`](super::conversation::TargetMemory::lone_rtt)),
    /// counts the link alive from the transfer's last reply, and is at its
    /// tail: a lost request or reply is sent once more about one lone round
    /// trip late (see [`Window::set_tail`]) instead of waiting out that RTO.
    /// Without a lone RTT it is a plain window.
    pub fn after_transfer(mut self, conv: &Conversation) -> Window<T> {
        if let Some(lone) = conv.memory.lone_rtt {
            self.min_rtt = Some(lone);
            self.last_sample = Some(conv.last_received_at());
            self.set_tail(true);
        }
        self
    }

    /// Whether any request in flight has a matching tag.
    pub fn any(&self, mut f: impl FnMut(&T) -> bool) -> bool {
        self.pending.iter().any(|p| f(&p.tag))
    }

    /// Serial of the oldest request still in flight (see [`Counts::sent`]).
    pub fn oldest_in_flight(&self) -> Option<u64> {
        self.pending.front().map(|p| p.serial)
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
            if self.pending.is_empty() {
                return Err(FtpError::new(
                    FtpResult::ProtocolError,
                    "no request in flight",
                ));
            }
            let mut next_due = self.resend_overdue(conv)?;
            let linger = self.linger_until();
            if let Some(until) = linger
                && next_due < until
            {
                // The last scan's earliest due is often a request answered
                // since: look again rather than wake up to find nothing due
                // (on a slow link that cut a third of the lingers short).
                self.scan = None;
                next_due = self.resend_overdue(conv)?;
            }
            let received = match linger {
                Some(until) => conv.recv_lingering(until.min(next_due))?,
                None => conv.recv(next_due, self.policy.cancellable)?,
            };
            if let Some(p) = received
                && let Some(hit) = self.accept(conv, p)
            {
                return Ok(hit);
            }
        }
    }

    /// Until when the replies that arrive may gather before they are taken
    /// (see [`LINGER`]): on a slow link, while the requests in flight beyond
    /// those that keep it busy (its rate × the lowest RTT, and one more)
    /// cover the wait, so that the link never idles for it. None when a
    /// reply must be taken at once (a fast link, a window without spare
    /// requests, the tail, a window that cannot be cancelled).
    fn linger_until(&self) -> Option<Instant> {
        // The rate is known once some replies came: before, a fast link
        // looks slow (one reply per round trip while the window opens).
        if !self.lingers || self.tail || !self.policy.cancellable || self.replies < RATE_KNOWN_AFTER
        {
            return None;
        }
        let wait = linger_wait(self.max_rate, self.min_rtt?, self.pending.len())?;
        Some(Instant::now() + wait)
    }

    /// Resend every overdue request with its own seq; returns when the next
    /// one falls due (at most [`IDLE_WAKE`] ahead). Fails with TIMEOUT/NO_SYSTEM when
    /// a request exhausts its retries.
    ///
    /// While first transmissions keep getting answered (fresh RTT samples)
    /// the RTO is right and a missing reply is a loss: the request is resent
    /// after one RTO (plus its queueing delay). Otherwise (a dead link, or
    /// replies slower than the RTO so that only resends get answered) its
    /// wait doubles with each try, as in RFC 6298.
    pub fn resend_overdue(&mut self, conv: &mut Conversation) -> FtpOutcome<Instant> {
        let retries = self.policy.retries;
        let back_off = self.policy.back_off;
        let rto = conv.rto();
        let now = Instant::now();
        let horizon = now + IDLE_WAKE;
        // Nothing can be due before the last scan's earliest due unless the
        // RTO shrank markedly (it moves a little with every sample: a resend
        // at most RTO/16 late is in the noise) or a fresh sample ended a
        // back-off.
        if let Some(scan) = self.scan
            && now < scan.earliest
            && rto + rto / 16 >= scan.rto
            && (!scan.backed_off || scan.last_sample == self.last_sample)
        {
            return Ok(scan.earliest.min(horizon));
        }
        let mut next_due = now + Duration::from_secs(3600);
        let mut backed_off = false;
        let mut silent_loss = false;
        let in_flight = self.pending.len();
        // At the tail: (lowest RTT, how late a reply may be past it).
        let tail_late = match self.min_rtt {
            Some(min_rtt) if self.tail => {
                let interval = if self.max_rate > 0.0 {
                    Duration::from_secs_f64(3.0 / self.max_rate)
                } else {
                    Duration::ZERO
                };
                // Never sooner than the shortest RTO past the expected
                // reply: on a fast link a stalled thread is not a loss.
                Some((min_rtt, (min_rtt / 4).max(interval).max(MIN_RTO)))
            }
            _ => None,
        };
        for p in &mut self.pending {
            // Alive: a first transmission was answered since (or just
            // before) this request's last send.
            let alive = self.last_sample.is_some_and(|t| t + rto > p.sent_at);
            let shift = if alive || !back_off {
                0
            } else {
                (p.tries + self.backoff).min(5)
            };
            backed_off |= shift > 0;
            // Only a first transmission is resent when overtaken: a resend
            // lost again (a server queue that stays full, as ArduPilot's
            // can) waits out its RTO, so retries are not used up at once.
            let overtaken = p.overtaken >= OVERTAKEN_IS_LOST && p.tries == 0 && retries > 0;
            let due = if overtaken {
                now
            } else {
                p.sent_at + p.queue_ahead + conv.backed_off(rto, shift)
            };
            if let Some((min_rtt, slack)) = tail_late
                && alive
                && !p.probed
                && due > now
            {
                // One early copy per try, outside the retry budget: the
                // request still falls due (and fails) as it would without.
                let late_at = p.sent_at + p.queue_ahead.max(min_rtt) + slack;
                if late_at <= now {
                    p.probed = true;
                    self.resends += 1;
                    conv.send(&p.req)?;
                    trace!(
                        "resend {:?} seq {} offset {} (late at the tail)",
                        p.req.opcode, p.req.seq, p.req.offset
                    );
                } else {
                    next_due = next_due.min(late_at);
                }
            }
            if due > now {
                next_due = next_due.min(due);
                continue;
            }
            if p.tries >= retries {
                if let Some(why) = &p.refused {
                    return Err(FtpError::new(
                        FtpResult::ProtocolError,
                        format!(
                            "{:?} at offset {}: every reply was refused ({why})",
                            p.req.opcode, p.req.offset
                        ),
                    ));
                }
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
            if fresh_seq_on_resend(p.req.opcode) {
                p.earlier_seq = Some(p.req.seq);
                p.req.seq = conv.take_seq();
            }
            conv.send(&p.req)?;
            trace!(
                "resend {:?} seq {} offset {} try {} (rto {:?}{})",
                p.req.opcode,
                p.req.seq,
                p.req.offset,
                p.tries,
                rto,
                if overtaken {
                    ", overtaken"
                } else if alive {
                    ""
                } else {
                    ", backing off"
                }
            );
            p.overtaken = 0;
            p.probed = false;
            // At the earliest (not backed off) it is due again then.
            next_due = next_due.min(now + p.queue_ahead + rto);
        }
        if silent_loss {
            self.backoff = (self.backoff + 1).min(3);
            self.gain = (self.gain * 0.8).max(1.5);
        }
        self.scan = Some(Scan {
            earliest: next_due,
            rto,
            backed_off,
            last_sample: self.last_sample,
        });
        Ok(next_due.min(horizon))
    }

    /// Match a reply to its request by seq and opcode and update the
    /// estimates; `None` when it answers nothing in flight.
    pub fn accept(&mut self, conv: &mut Conversation, p: FtpPacket) -> Option<(T, Reply)> {
        let answers = |seq: u16| seq.wrapping_add(1) == p.seq;
        let idx = self.pending.iter().position(|q| {
            q.req.opcode == p.req_opcode
                && (answers(q.req.seq) || q.earlier_seq.is_some_and(answers))
        });
        // A stray reply is not followed: it may answer another process with
        // our ids on another link, and following its seqs would make our
        // seqs collide with that process's.
        let idx = idx?;
        if let Some(why) = reply_problem(&self.pending[idx].req, &p) {
            trace!(
                "refused {:?} to seq {}: {why}",
                p.opcode, self.pending[idx].req.seq
            );
            self.pending[idx].refused = Some(why);
            return None;
        }
        let q = self.pending.remove(idx)?;
        // When it arrived (it may have waited while the client lingered).
        let now = conv.last_received_at();
        for p in &mut self.pending {
            if p.sent_at < q.sent_at {
                p.overtaken += 1;
                if p.overtaken == OVERTAKEN_IS_LOST {
                    // Due now: the next resend_overdue must scan.
                    self.scan = None;
                }
            }
        }
        trace!(
            "reply {:?} to seq {} offset {} after {:.1} ms (try {})",
            p.opcode,
            q.req.seq,
            q.req.offset,
            now.saturating_duration_since(q.sent_at).as_secs_f64() * 1e3,
            q.tries
        );
        self.delivered += 1;
        self.replies += 1;
        let rtt = now.saturating_duration_since(q.sent_at);
        // An early copy at the tail makes the sample ambiguous, like a resend (Karn).
        if conv.rtt.on_reply(q.tries + u32::from(q.probed), rtt) {
            self.last_sample = Some(now);
            self.backoff = 0;
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
            if q.alone {
                let lone = &mut conv.memory.lone_rtt;
                *lone = Some(lone.map_or(rtt, |m| m.min(rtt)));
            }
        }
        let span = now.saturating_duration_since(q.first_sent).as_secs_f64();
        if span > 0.0 {
            let rate = (self.delivered - q.delivered_at_send) as f64 / span;
            // Slowly forget an old peak so the window follows a slower link.
            self.max_rate = (self.max_rate * 0.999).max(rate);
        }
        self.gain = (self.gain + 0.02).min(2.0);
        if let Some(mut probe) = self.probe {
            probe.update(WindowView {
                counts: self.counts(),
                in_flight: self.pending.len(),
                oldest_in_flight: self.oldest_in_flight(),
            });
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

/// How long replies may gather (see [`LINGER`]) with `in_flight`
/// requests out on a link that answers `rate` replies per second with a
/// lowest RTT of `min_rtt`: as long as the requests beyond those that keep
/// the link busy (rate × RTT, and one more) last, less the link reader's
/// pause (a reply may be read that much after it arrived: see
/// `link::replies::READ_PAUSE`), at most [`LINGER`]; None on a fast link or
/// without such spare requests.
fn linger_wait(rate: f64, min_rtt: Duration, in_flight: usize) -> Option<Duration> {
    let slow_rate = 1.0 / LINGER_MIN_INTERVAL.as_secs_f64();
    if rate <= 0.0 || rate > slow_rate {
        return None;
    }
    let spare = in_flight as f64 - rate * min_rtt.as_secs_f64() - 1.0;
    if spare < 1.0 {
        return None;
    }
    let covered = Duration::from_secs_f64(spare / rate).checked_sub(READ_PAUSE)?;
    (!covered.is_zero()).then(|| covered.min(LINGER))
}

/// Whether a request opens, creates or closes sessions (its ACK changes
/// which client a session belongs to).
pub(crate) fn changes_sessions(op: Opcode) -> bool {
    matches!(
        op,
        Opcode::OpenFileRO
            | Opcode::OpenFileWO
            | Opcode::CreateFile
            | Opcode::TerminateSession
            | Opcode::ResetSessions
    )
}

/// Why `p`, whose seq and opcode match `req`, cannot be its answer.
fn reply_problem(req: &FtpPacket, p: &FtpPacket) -> Option<String> {
    if p.data.len() > MAX_DATA {
        return Some(format!("{} data bytes", p.data.len()));
    }
    let session_bound = matches!(
        req.opcode,
        Opcode::ReadFile | Opcode::WriteFile | Opcode::TerminateSession
    );
    // NAKs echo the session too (PX4, ArduPilot, ours; MAVSDK's is always 0).
    if session_bound && p.session != req.session {
        return Some(format!("session {} instead of {}", p.session, req.session));
    }
    if req.opcode == Opcode::ReadFile && p.opcode == Opcode::Ack {
        if p.offset != req.offset {
            return Some(format!("offset {} instead of {}", p.offset, req.offset));
        }
        if p.data.len() > req.data.len() {
            return Some(format!(
                "{} bytes for {} asked",
                p.data.len(),
                req.data.len()
            ));
        }
    }
    None
}

/// Expected wait for the replies to `ahead` requests at `rate` replies/s.
fn queue_delay(ahead: usize, rate: f64) -> Duration {
    if rate > 0.0 {
        Duration::from_secs_f64(ahead as f64 / rate)
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_slow_link_with_spare_requests_lingers_while_they_last() {
        // 5760 B/s: ~21.7 replies/s, RTT 71 ms keeps ~1.5 requests busy.
        let rate = 5760.0 / 266.0;
        assert_eq!(linger_wait(rate, ms(71), 7), Some(LINGER));
        // 4 in flight: 1.46 spare requests cover 67 ms, less the reader's
        // pause (a reply may be read that late).
        let wait = linger_wait(rate, ms(71), 4).expect("a spare request");
        assert!(wait > ms(40) && wait < ms(55), "{wait:?}");
    }

    #[test]
    fn no_linger_without_a_spare_request_or_on_a_fast_link() {
        let rate = 5760.0 / 266.0;
        assert_eq!(linger_wait(rate, ms(71), 3), None);
        assert_eq!(linger_wait(rate, ms(500), 7), None);
        assert_eq!(linger_wait(0.0, ms(71), 7), None);
        // 92160 B/s: a reply every 2.9 ms, answered at once.
        assert_eq!(linger_wait(92160.0 / 266.0, ms(45), 64), None);
    }
}
