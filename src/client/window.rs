//! A window of requests in flight.
//!
//! Each request gets its own seq and is matched by its reply's seq (`seq+1`)
//! and request opcode, never by offset (MAVSDK's server leaves it at 0).
//! A request unanswered for one RTO is resent with the same seq (backing off
//! per request); only first transmissions give RTT samples (Karn's rule).
//! The window follows the bandwidth-delay product: the lowest RTT seen times
//! the highest delivery rate seen, with a gain that shrinks on loss.

use std::time::{Duration, Instant};

use super::engine::{Conversation, Reply};
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

/// Requests in flight plus the estimates that size the window.
pub(crate) struct Window<T> {
    pending: Vec<Pending<T>>,
    cap: usize,
    min_rtt: Option<Duration>,
    /// Highest recent delivery rate, replies per second.
    max_rate: f64,
    gain: f64,
    delivered: u64,
    /// RFC 6298 back-off (a shift) kept until a fresh RTT sample arrives.
    backoff: u32,
}

/// Window size before anything is measured.
const INITIAL: usize = 3;

impl<T> Window<T> {
    /// An empty window that never holds more than `cap` requests.
    pub fn new(cap: usize) -> Window<T> {
        Window {
            pending: Vec::new(),
            cap: cap.max(1),
            min_rtt: None,
            max_rate: 0.0,
            gain: 2.0,
            delivered: 0,
            backoff: 0,
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
        want.clamp(2, self.cap)
    }

    /// Whether another request may be sent now.
    pub fn has_room(&self) -> bool {
        self.pending.len() < self.size()
    }

    /// Assign a seq to `req`, send it and track it under `tag`.
    pub fn send(&mut self, conv: &mut Conversation, mut req: FtpPacket, tag: T) -> FtpOutcome<()> {
        req.seq = conv.take_seq();
        conv.link.send_ftp(conv.target.0, conv.target.1, &req)?;
        let now = Instant::now();
        // Serialization and queueing: replies to earlier requests come first.
        let queue_ahead = if self.max_rate > 0.0 {
            Duration::from_secs_f64(self.pending.len() as f64 / self.max_rate)
        } else {
            Duration::ZERO
        };
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

    /// Forget every request whose tag matches (e.g. reads past a known end).
    pub fn drop_where(&mut self, mut f: impl FnMut(&T) -> bool) {
        self.pending.retain(|p| !f(&p.tag));
    }

    /// Wait for the next reply to a request in flight, resending overdue ones.
    /// Fails with TIMEOUT/NO_SYSTEM when a request exhausts its retries.
    pub fn next_reply(&mut self, conv: &mut Conversation) -> FtpOutcome<(T, Reply)> {
        let retries = conv.settings().retries.max(1);
        loop {
            conv.check_cancel()?;
            if self.pending.is_empty() {
                return Err(FtpError::new(
                    FtpResult::ProtocolError,
                    "no request in flight",
                ));
            }
            let rto = conv.rto();
            let now = Instant::now();
            // Resend overdue requests with their own seq.
            let mut next_due = now + Duration::from_millis(50);
            let mut lost = false;
            for p in &mut self.pending {
                let due =
                    p.sent_at + p.queue_ahead + rto * (1u32 << (p.tries + self.backoff).min(5));
                if due <= now {
                    if p.tries >= retries {
                        return Err(conv.timeout_error(&p.req));
                    }
                    p.tries += 1;
                    p.sent_at = now;
                    lost = true;
                    conv.link.send_ftp(conv.target.0, conv.target.1, &p.req)?;
                    next_due = next_due
                        .min(now + p.queue_ahead + rto * (1u32 << (p.tries + self.backoff).min(5)));
                } else {
                    next_due = next_due.min(due);
                }
            }
            if lost {
                self.backoff = (self.backoff + 1).min(3);
                self.gain = (self.gain * 0.8).max(1.5);
            }
            let wait = next_due.saturating_duration_since(Instant::now());
            match conv.replies.recv_timeout(wait) {
                Ok(inc) => {
                    if (inc.source_system, inc.source_component) != conv.target {
                        continue;
                    }
                    if let Some(hit) = self.match_reply(conv, inc.packet) {
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

    /// Match a reply to its request by seq and opcode; update the estimates.
    fn match_reply(&mut self, conv: &mut Conversation, p: FtpPacket) -> Option<(T, Reply)> {
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
        self.delivered += 1;
        if q.tries == 0 {
            let rtt = now - q.sent_at;
            conv.sample_rtt(rtt);
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
