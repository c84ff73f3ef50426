//! The request/reply channel of one client to its target: sending packets,
//! the one receive path every operation uses, sequence numbers, the RTT
//! estimate and what was learnt about the target.
//!
//! Sequence numbers come from the link (one counter for every client of the
//! link, following the highest seq the servers used), so two clients of one
//! link never send the same seq and each can tell its replies by seq.
//!
//! While a transfer holds a session, the receive path watches for signs
//! that another client took it over: an ACK to an Open, Create, Reset or
//! Terminate for that session id that answers none of our requests
//! (a single-session server such as MAVSDK's or PX4's then serves the other
//! client's file, or nothing, on it). The transfer discards whatever it
//! receives after such a sign.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::probe::QueueProbe;
use super::rtt::RttEstimator;
use super::shared::{Control, Settings};
use super::trace::trace;
use crate::link::{Engaged, Link, ReplyInterrupter, ReplySubscription};
use crate::protocol::{FtpPacket, Opcode};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Session-changing requests of ours remembered to tell their ACKs from
/// another client's.
const OWN_SESSION_REQUESTS: usize = 64;

/// Why a transfer stopped before its end.
#[derive(Debug)]
pub(crate) enum Halt {
    /// A final failure.
    Failed(FtpError),
    /// The server no longer serves our session (another client took it
    /// over, or it was closed under us): re-open and go on.
    SessionLost(String),
}

impl From<FtpError> for Halt {
    fn from(e: FtpError) -> Halt {
        Halt::Failed(e)
    }
}

/// Result of a transfer step.
pub(crate) type Step<T> = Result<T, Halt>;

/// What a client learnt about its current target (forgotten when the
/// target changes).
#[derive(Clone, Copy, Default)]
pub(crate) struct TargetMemory {
    /// Whether ListDirectoryWithTime works.
    pub list_with_time: Option<bool>,
    /// What transfers learnt about the server's request queue.
    pub queue_probe: Option<QueueProbe>,
    /// Lowest RTT of a request answered while it was the only one in flight
    /// (first transmissions): what a single request takes on an idle link,
    /// unlike the smoothed RTT, which a data window's queue inflates (see
    /// [`super::window::Window::after_transfer`]).
    pub lone_rtt: Option<Duration>,
}

/// The request/reply state of one client: seq numbers, the reply stream, timing.
pub(crate) struct Conversation {
    pub link: Link,
    pub control: Arc<Control>,
    /// This client's replies (from the target it listens to).
    replies: ReplySubscription,
    /// Seqs of our recent Open/Create/Terminate/Reset requests.
    own_session_requests: VecDeque<u16>,
    /// The session id a transfer holds (watched for a takeover).
    watched: Option<u8>,
    /// The sign of a takeover seen for the watched session.
    taken: Option<String>,
    /// Cancel generation of the running operation.
    pub generation: u64,
    /// The running operation's own cancel flag (per-operation cancel).
    pub op_cancel: Option<Arc<AtomicBool>>,
    /// Round-trip estimate (from every request to this client's targets).
    pub rtt: RttEstimator,
    pub memory: TargetMemory,
    /// (system, component) the running operation talks to.
    pub target: (u8, u8),
    /// The client's settings as the running operation started (read on
    /// every wake-up: a copy, not a lock).
    settings: Settings,
    /// Work left for after the operation's result is reported (see
    /// [`Conversation::defer`]).
    deferred: Option<Deferred>,
    /// When this client last sent a packet (the server last heard from us).
    last_send: Cell<Instant>,
    /// When the last packet [`Conversation::recv`] returned was received.
    last_received_at: Instant,
}

/// Work a conversation runs after the operation's result is reported.
pub(crate) type Deferred = Box<dyn FnOnce(&mut Conversation) + Send>;

impl Conversation {
    /// A conversation receiving the replies `sub` accepts.
    pub fn new(link: Link, control: Arc<Control>) -> Conversation {
        let replies = link.subscribe_replies();
        let settings = control.settings();
        Conversation {
            link,
            control,
            replies,
            own_session_requests: VecDeque::new(),
            watched: None,
            taken: None,
            generation: 0,
            op_cancel: None,
            rtt: RttEstimator::new(),
            memory: TargetMemory::default(),
            target: (0, 0),
            settings,
            deferred: None,
            last_send: Cell::new(Instant::now()),
            last_received_at: Instant::now(),
        }
    }

    /// Leave `work` for after the operation's result is reported (the
    /// worker runs it then, before its next operation; so does anything
    /// that opens a session first). A finished download closes its session
    /// this way: the data is complete, and the caller need not wait a round
    /// trip for an answer that changes nothing.
    pub fn defer(&mut self, work: Deferred) {
        self.run_deferred();
        self.deferred = Some(work);
    }

    /// Run the work left by [`Conversation::defer`], if any.
    pub fn run_deferred(&mut self) {
        if let Some(work) = self.deferred.take() {
            work(self);
        }
    }

    /// The client's settings as the running operation started (operations
    /// never write them; a change made meanwhile applies from the next one).
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Prepare for an operation: forget the last one's session watch and
    /// resolve the target, waiting up to timeout × retries for what is
    /// missing: a link with no peer to send to yet (udpin that heard
    /// nothing; sending would only be dropped), and for target system 0 (the
    /// first system heard) a system heard.
    pub fn begin_operation(&mut self) -> FtpOutcome<()> {
        self.run_deferred();
        self.watched = None;
        self.taken = None;
        self.settings = self.control.settings();
        let s = self.settings();
        let budget = s.timeout * s.retries.max(1);
        let deadline = Instant::now() + budget;
        while !self
            .link
            .wait_for_peer((Instant::now() + Duration::from_millis(50)).min(deadline))
        {
            self.check_cancel()?;
            if Instant::now() >= deadline {
                return Err(FtpError::new(
                    FtpResult::NoSystem,
                    format!(
                        "no peer on the link within {:.1} s (timeout × retries): nothing heard \
                         to send to",
                        budget.as_secs_f64()
                    ),
                ));
            }
        }
        let sys = if s.target_system == 0 {
            self.wait_for_a_system(deadline, budget)?
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
        self.replies.listen_to(self.target);
        Ok(())
    }

    /// The operation ended: stop receiving the target's replies until the
    /// next one begins (what is queued is dropped: answers to requests no
    /// longer in flight).
    pub fn end_operation(&mut self) {
        self.replies.stop_listening();
    }

    /// Wakes this conversation's wait for a reply (see [`Control::cancel`]).
    pub fn interrupter(&self) -> ReplyInterrupter {
        self.replies.interrupter()
    }

    /// Mark an operation as running until the guard drops (the link lets
    /// this client read for itself while it waits: see `link::replies`).
    pub fn engage(&self) -> Engaged {
        self.replies.engage()
    }

    /// The first system heard on the link, waiting until `deadline` for one.
    fn wait_for_a_system(&mut self, deadline: Instant, budget: Duration) -> FtpOutcome<u8> {
        loop {
            if let Some(sys) = self.link.first_heard_system() {
                return Ok(sys);
            }
            if Instant::now() >= deadline {
                return Err(FtpError::new(
                    FtpResult::NoSystem,
                    format!(
                        "no system heard on the link within {:.1} s (timeout × retries)",
                        budget.as_secs_f64()
                    ),
                ));
            }
            // The heard table has no wake-up: look again every 10 ms.
            self.pause(Duration::from_millis(10), true)?;
        }
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
        let op_cancelled = self
            .op_cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed));
        if op_cancelled || self.control.cancelled_since(self.generation) || self.link.is_closed() {
            return Err(FtpError::new(FtpResult::Cancelled, "operation cancelled"));
        }
        Ok(())
    }

    /// The seq for a new request (from the link's counter).
    pub fn take_seq(&mut self) -> u16 {
        self.link.next_seq()
    }

    /// Note a seq received from the server (later requests on the link use
    /// higher seqs).
    pub fn saw_seq(&mut self, seq: u16) {
        self.link.saw_seq(seq)
    }

    /// Note that we sent a session-changing request with `seq` (its ACK is
    /// then ours, not a sign of a takeover).
    pub fn note_session_request(&mut self, seq: u16) {
        if self.own_session_requests.len() >= OWN_SESSION_REQUESTS {
            self.own_session_requests.pop_front();
        }
        self.own_session_requests.push_back(seq);
    }

    /// Watch `session` for a takeover (None: stop watching); clears the
    /// last sign.
    pub fn watch_session(&mut self, session: Option<u8>) {
        self.watched = session;
        self.taken = None;
    }

    /// The session id watched for a takeover (the one a transfer holds).
    pub fn watched_session(&self) -> Option<u8> {
        self.watched
    }

    /// The sign of a takeover of the watched session, if one was seen.
    pub fn session_taken(&self) -> Option<&str> {
        self.taken.as_deref()
    }

    /// Send one packet to the target.
    pub fn send(&self, packet: &FtpPacket) -> FtpOutcome<()> {
        self.last_send.set(Instant::now());
        self.link.send_ftp(self.target.0, self.target.1, packet)
    }

    /// When this client last sent a packet.
    pub fn last_send(&self) -> Instant {
        self.last_send.get()
    }

    /// The one receive path: the next reply from the target, or None when
    /// `deadline` passes first. Replies from other systems or components are
    /// skipped; signs of a takeover of the watched session are noted (see
    /// [`Conversation::session_taken`]). A closed link is `Cancelled`; so is
    /// a cancelled operation when `cancellable`.
    pub fn recv(&mut self, deadline: Instant, cancellable: bool) -> FtpOutcome<Option<FtpPacket>> {
        self.recv_from_target(deadline, cancellable, false)
    }

    /// [`Conversation::recv`] for a slow stream whose packets need no prompt
    /// answer (a burst on a slow link): the packets that arrive until
    /// `deadline` are taken with one wake-up (see
    /// [`Conversation::last_received_at`] for when each came).
    pub fn recv_lingering(&mut self, deadline: Instant) -> FtpOutcome<Option<FtpPacket>> {
        self.recv_from_target(deadline, true, true)
    }

    /// When the last packet returned by a receive arrived on the link.
    pub fn last_received_at(&self) -> Instant {
        self.last_received_at
    }

    fn recv_from_target(
        &mut self,
        deadline: Instant,
        cancellable: bool,
        linger: bool,
    ) -> FtpOutcome<Option<FtpPacket>> {
        loop {
            if cancellable {
                self.check_cancel()?;
            }
            let next = if linger {
                self.replies.recv_lingering(deadline)
            } else {
                self.replies.recv(deadline)
            };
            match next {
                // A frame of the previous target may still be queued.
                Ok(Some(inc)) => {
                    if (inc.source_system, inc.source_component) == self.target {
                        self.look_for_takeover(&inc.packet);
                        self.last_received_at = inc.received_at;
                        return Ok(Some(inc.packet));
                    }
                }
                // Woken early (a cancel): look at the flags again.
                Ok(None) if Instant::now() < deadline => {}
                Ok(None) => return Ok(None),
                Err(()) => {
                    return Err(FtpError::new(FtpResult::Cancelled, "link closed"));
                }
            }
        }
    }

    /// Wait `span`, dropping what arrives (a cancel ends the wait within
    /// 50 ms when `cancellable`).
    pub fn pause(&mut self, span: Duration, cancellable: bool) -> FtpOutcome<()> {
        let end = Instant::now() + span;
        while Instant::now() < end {
            let tick = end.min(Instant::now() + Duration::from_millis(50));
            let _ = self.recv(tick, cancellable)?;
        }
        Ok(())
    }

    fn look_for_takeover(&mut self, p: &FtpPacket) {
        let Some(watched) = self.watched else { return };
        let changes_sessions = matches!(
            p.req_opcode,
            Opcode::OpenFileRO
                | Opcode::OpenFileWO
                | Opcode::CreateFile
                | Opcode::TerminateSession
                | Opcode::ResetSessions
        );
        if p.opcode != Opcode::Ack || !changes_sessions || p.session != watched {
            return;
        }
        if self.own_session_requests.contains(&p.seq.wrapping_sub(1)) {
            return;
        }
        trace!(
            "session {watched} taken over: another client's {:?} ACK (seq {})",
            p.req_opcode, p.seq
        );
        if self.taken.is_none() {
            self.taken = Some(format!(
                "another client's {:?} was acknowledged for session {watched}",
                p.req_opcode
            ));
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
