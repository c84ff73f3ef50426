//! The request/reply channel of one client to its target: sending packets,
//! the one receive path every operation uses, sequence numbers, the RTT
//! estimate and what was learnt about the target.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::probe::QueueProbe;
use super::rtt::RttEstimator;
use super::shared::{Control, Settings};
use crate::link::{FtpSubscription, IncomingFtp, Link};
use crate::protocol::FtpPacket;
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// What a client learnt about its current target (forgotten when the
/// target changes).
#[derive(Clone, Copy, Default)]
pub(crate) struct TargetMemory {
    /// Whether ListDirectoryWithTime works.
    pub list_with_time: Option<bool>,
    /// What transfers learnt about the server's request queue.
    pub queue_probe: Option<QueueProbe>,
    /// Whether ResetSessions was sent to this target.
    pub sessions_reset: bool,
}

/// The request/reply state of one client: seq numbers, the reply stream, timing.
pub(crate) struct Conversation {
    pub link: Link,
    pub control: Arc<Control>,
    replies: Receiver<IncomingFtp>,
    _subscription: FtpSubscription,
    next_seq: u16,
    /// Cancel generation of the running operation.
    pub generation: u64,
    /// Round-trip estimate (from every request to this client's targets).
    pub rtt: RttEstimator,
    pub memory: TargetMemory,
    /// (system, component) the running operation talks to.
    pub target: (u8, u8),
}

impl Conversation {
    /// A conversation receiving the replies `sub` accepts.
    pub fn new(link: Link, control: Arc<Control>, sub: FtpSubscription) -> Conversation {
        let replies = sub.receiver.clone();
        Conversation {
            link,
            control,
            replies,
            _subscription: sub,
            next_seq: rand_u16(),
            generation: 0,
            rtt: RttEstimator::new(),
            memory: TargetMemory::default(),
            target: (0, 0),
        }
    }

    /// A copy of the client's settings (operations never write them).
    pub fn settings(&self) -> Settings {
        self.control.settings()
    }

    /// Resolve the target: system 0 means the first heard.
    pub fn resolve_target(&mut self) -> FtpOutcome<()> {
        let s = self.settings();
        let sys = if s.target_system == 0 {
            match self.link.first_heard_system() {
                Some(x) => x,
                None => {
                    return Err(FtpError::new(
                        FtpResult::NoSystem,
                        "no system heard on the link",
                    ));
                }
            }
        } else {
            s.target_system
        };
        let comp = if s.target_component == 0 {
            1
        } else {
            s.target_component
        };
        if (sys, comp) != self.target {
            self.memory = TargetMemory::default();
        }
        self.target = (sys, comp);
        Ok(())
    }

    /// Retransmission timeout from the RTT estimate.
    pub fn rto(&self) -> Duration {
        self.rtt.rto(self.settings().timeout)
    }

    /// The wait before try `shift + 1` of a request (see [`RttEstimator::backed_off`]).
    pub fn backed_off(&self, rto: Duration, shift: u32) -> Duration {
        RttEstimator::backed_off(rto, shift, self.settings().timeout)
    }

    pub fn check_cancel(&self) -> FtpOutcome<()> {
        if self.control.cancelled_since(self.generation) || self.link.is_closed() {
            return Err(FtpError::new(FtpResult::Cancelled, "operation cancelled"));
        }
        Ok(())
    }

    /// The seq for a new request.
    pub fn take_seq(&mut self) -> u16 {
        let s = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        s
    }

    /// Note a seq received from the server (next request seq follows it).
    pub fn saw_seq(&mut self, seq: u16) {
        let next = seq.wrapping_add(1);
        // "max" in mod-2^16 terms: move forward if next is ahead within half the space.
        if next.wrapping_sub(self.next_seq) < 0x8000 {
            self.next_seq = next;
        }
    }

    /// Send one packet to the target.
    pub fn send(&self, packet: &FtpPacket) -> FtpOutcome<()> {
        self.link.send_ftp(self.target.0, self.target.1, packet)
    }

    /// The one receive path: the next reply from the target, or None when
    /// `deadline` passes first. Replies from other systems or components are
    /// skipped. A closed link is `Cancelled`; so is a cancelled operation
    /// when `cancellable`.
    pub fn recv(&mut self, deadline: Instant, cancellable: bool) -> FtpOutcome<Option<FtpPacket>> {
        loop {
            if cancellable {
                self.check_cancel()?;
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(wait) {
                Ok(inc) => {
                    if (inc.source_system, inc.source_component) == self.target {
                        return Ok(Some(inc.packet));
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(FtpError::new(FtpResult::Cancelled, "link closed"));
                }
            }
        }
    }

    /// The error for a request that exhausted its retries: NO_SYSTEM when
    /// the target was never heard, TIMEOUT otherwise.
    pub fn timeout_error(&self, req: &FtpPacket) -> FtpError {
        if !self.link.has_heard(self.target.0, self.target.1) {
            FtpError::new(
                FtpResult::NoSystem,
                format!(
                    "no reply from system {} component {} (never heard)",
                    self.target.0, self.target.1
                ),
            )
        } else {
            FtpError::new(
                FtpResult::Timeout,
                format!("no reply to {:?} after retries", req.opcode),
            )
        }
    }
}

/// A small pseudo-random number (no extra dependency).
pub(crate) fn rand_u16() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    static CTR: AtomicU64 = AtomicU64::new(0);
    let c = CTR.fetch_add(0x9E37, Ordering::Relaxed);
    ((t as u64 ^ c ^ (std::process::id() as u64) << 7) as u16).wrapping_mul(31)
}
