//! The worker thread and the request/reply machinery shared by every operation.
//!
//! Each client owns one worker thread that runs queued operations in
//! submission order. Every request goes through a `window::Window` (single
//! requests such as open or list through `transact`, a window of one), which
//! resends with the same seq, matches replies by seq and feeds the shared RTT
//! estimate. Best-effort cleanup (reset, terminate) uses `transact_quick`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::window::{QueueProbe, Window};
use crate::link::{FtpSubscription, IncomingFtp, Link};
use crate::protocol::{FtpPacket, NakCode, Opcode, nak_to_error};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// One queued operation: runs on the worker with the conversation, or is
/// told it was cancelled before it started.
pub(crate) type Job = Box<dyn FnOnce(JobRun<'_>) + Send>;

/// How a job is started: with a conversation to run, or cancelled.
pub(crate) enum JobRun<'a> {
    /// Run the operation.
    Run(&'a mut Conversation),
    /// The operation was cancelled before it ran: report Cancelled.
    Cancelled,
}

/// Default cap on ReadFile requests in flight.
pub(crate) const DEFAULT_READ_WINDOW: usize = 64;
/// Default cap on WriteFile requests in flight (the window starts at 5 and
/// goes beyond only for servers that do not drop what exceeds that).
pub(crate) const DEFAULT_WRITE_WINDOW: usize = 32;

/// State shared between the client handle and its worker.
pub(crate) struct Shared {
    pub queue: Mutex<QueueState>,
    pub wake: Condvar,
    /// Bumped by cancel(): operations started before see the change.
    pub cancel_gen: AtomicU64,
    pub stopping: AtomicBool,
    pub last_error: Mutex<Option<String>>,
    pub settings: Mutex<Settings>,
    pub worker_thread: Mutex<Option<ThreadId>>,
}

/// Queue of pending jobs plus the worker's idle flag.
pub(crate) struct QueueState {
    pub jobs: VecDeque<(u64, Job)>,
    pub running: bool,
}

/// Per-client settings.
#[derive(Clone, Copy)]
pub(crate) struct Settings {
    pub timeout: Duration,
    pub retries: u32,
    pub target_system: u8,
    pub target_component: u8,
    /// Most ReadFile requests in flight.
    pub read_window: usize,
    /// Most WriteFile requests in flight (ArduPilot queues 5, drops the rest).
    pub write_window: usize,
}

impl Shared {
    pub fn cancelled_since(&self, generation: u64) -> bool {
        self.cancel_gen.load(Ordering::SeqCst) != generation || self.stopping.load(Ordering::SeqCst)
    }
    pub fn set_error(&self, e: &FtpError) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e.to_string());
        }
    }
}

/// The request/reply state of one client: seq numbers, the reply stream, timing.
pub(crate) struct Conversation {
    pub link: Link,
    pub shared: Arc<Shared>,
    pub replies: Receiver<IncomingFtp>,
    _subscription: FtpSubscription,
    pub next_seq: u16,
    pub generation: u64,
    pub srtt: Option<Duration>,
    pub rttvar: Duration,
    pub sessions_reset: bool,
    /// Per target: whether ListDirectoryWithTime works.
    pub list_with_time: Option<bool>,
    /// Per target: what transfers learnt about the server's request queue.
    pub queue_probe: Option<QueueProbe>,
    pub target: (u8, u8),
}

/// What happened to one request.
pub(crate) enum Reply {
    Ack(FtpPacket),
    Nak(FtpPacket),
}

impl Conversation {
    pub fn new(link: Link, shared: Arc<Shared>, sub: FtpSubscription) -> Conversation {
        let replies = sub.receiver.clone();
        Conversation {
            link,
            shared,
            replies,
            _subscription: sub,
            next_seq: rand_u16(),
            generation: 0,
            srtt: None,
            rttvar: Duration::ZERO,
            sessions_reset: false,
            list_with_time: None,
            queue_probe: None,
            target: (0, 0),
        }
    }

    pub fn settings(&self) -> Settings {
        self.shared.settings.lock().map(|s| *s).unwrap_or(Settings {
            timeout: Duration::from_millis(500),
            retries: 10,
            target_system: 0,
            target_component: 1,
            read_window: DEFAULT_READ_WINDOW,
            write_window: DEFAULT_WRITE_WINDOW,
        })
    }

    /// Resolve the target: system 0 means the first heard. A link with no
    /// peer to send to yet (udpin that heard nothing) is waited on for up to
    /// timeout × retries, then NoSystem: sending would only be dropped.
    pub fn resolve_target(&mut self) -> FtpOutcome<()> {
        let s = self.settings();
        let deadline = Instant::now() + s.timeout * s.retries.max(1);
        while !self
            .link
            .wait_for_peer((Instant::now() + Duration::from_millis(50)).min(deadline))
        {
            self.check_cancel()?;
            if Instant::now() >= deadline {
                return Err(FtpError::new(
                    FtpResult::NoSystem,
                    format!(
                        "no peer on the link within {:?} (nothing heard to send to)",
                        s.timeout * s.retries.max(1)
                    ),
                ));
            }
        }
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
            self.list_with_time = None;
            self.queue_probe = None;
            self.sessions_reset = false;
        }
        self.target = (sys, comp);
        Ok(())
    }

    /// Retransmission timeout from the RTT estimate (RFC 6298 style).
    pub fn rto(&self) -> Duration {
        let base = self.settings().timeout;
        match self.srtt {
            None => base,
            Some(srtt) => {
                let rto = srtt + (self.rttvar * 4).max(Duration::from_millis(10));
                rto.clamp(
                    Duration::from_millis(20),
                    base.max(Duration::from_millis(20)) * 4,
                )
            }
        }
    }

    /// The wait before try `shift + 1` of a request: the RTO doubled per
    /// `shift`, but never beyond twice the configured timeout (or the RTO,
    /// if that is longer), so that retries × timeout bounds a silence.
    pub fn backed_off(&self, rto: Duration, shift: u32) -> Duration {
        let cap = rto.max(self.settings().timeout * 2);
        (rto * (1u32 << shift.min(5))).min(cap)
    }

    /// Feed one RTT sample (first transmissions only: Karn's rule).
    pub fn sample_rtt(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    pub fn check_cancel(&self) -> FtpOutcome<()> {
        if self.shared.cancelled_since(self.generation) || self.link.is_closed() {
            return Err(FtpError::new(FtpResult::Cancelled, "operation cancelled"));
        }
        Ok(())
    }

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

    pub fn fresh_session(&mut self) -> u8 {
        // Servers echo or force the id; PX4/MAVSDK require 0, so request 0.
        0
    }

    /// Send `req` (seq is assigned here) and wait for its reply, retrying
    /// with the same seq: a window of one request. A NAK is returned as
    /// Reply::Nak.
    pub fn transact(&mut self, req: FtpPacket) -> FtpOutcome<Reply> {
        let mut win: Window<()> = Window::new(self, 1);
        win.send(self, req, ())?;
        win.next_reply(self).map(|((), reply)| reply)
    }

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

    /// Like transact, but a NAK becomes an error.
    pub fn request_ok(&mut self, req: FtpPacket, what: &str) -> FtpOutcome<FtpPacket> {
        match self.transact(req)? {
            Reply::Ack(p) => Ok(p),
            Reply::Nak(p) => Err(nak_to_error(&p, what)),
        }
    }

    /// ResetSessions once per target before the first operation.
    pub fn ensure_reset(&mut self) -> FtpOutcome<()> {
        if !self.sessions_reset {
            self.reset_sessions();
            self.sessions_reset = true;
        }
        Ok(())
    }

    /// Best-effort ResetSessions (errors ignored; one try with a short timeout).
    pub fn reset_sessions(&mut self) {
        let req = FtpPacket::request(Opcode::ResetSessions, 0);
        let _ = self.transact_quick(req);
    }

    /// Best-effort TerminateSession.
    pub fn terminate(&mut self, session: u8) {
        let mut req = FtpPacket::request(Opcode::TerminateSession, 0);
        req.session = session;
        let _ = self.transact_quick(req);
    }

    fn transact_quick(&mut self, mut req: FtpPacket) -> FtpOutcome<Reply> {
        // Not affected by cancel: used for cleanup.
        req.seq = self.take_seq();
        for _ in 0..3 {
            let sent = Instant::now();
            if self
                .link
                .send_ftp(self.target.0, self.target.1, &req)
                .is_err()
            {
                return Err(FtpError::new(FtpResult::Cancelled, "link closed"));
            }
            let deadline = sent + self.rto();
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                match self.replies.recv_timeout(left) {
                    Ok(inc) => {
                        if (inc.source_system, inc.source_component) != self.target {
                            continue;
                        }
                        let p = inc.packet;
                        if p.seq == req.seq.wrapping_add(1) && p.req_opcode == req.opcode {
                            self.saw_seq(p.seq);
                            return Ok(if p.opcode == Opcode::Nak {
                                Reply::Nak(p)
                            } else {
                                Reply::Ack(p)
                            });
                        }
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => break,
                    Err(_) => return Err(FtpError::new(FtpResult::Cancelled, "link closed")),
                }
            }
            if !self.link.has_heard(self.target.0, self.target.1) {
                break;
            }
        }
        Err(FtpError::new(
            FtpResult::Timeout,
            "cleanup request unanswered",
        ))
    }
}

/// Whether `MAVFTP_TRACE` is set: the client then prints one line per
/// request, resend and reply to stderr (for diagnosing slow links).
pub(crate) fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MAVFTP_TRACE").is_some_and(|v| !v.is_empty() && v != "0"))
}

/// Milliseconds since the first trace line.
pub(crate) fn trace_ms() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

/// Print a trace line when `MAVFTP_TRACE` is set.
macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::client::engine::tracing() {
            eprintln!("mavftp {:10.1} {}", $crate::client::engine::trace_ms(), format_args!($($arg)*));
        }
    };
}
pub(crate) use trace;

/// Is this NAK a given code?
pub(crate) fn is_nak(p: &FtpPacket, code: NakCode) -> bool {
    p.nak_code() == Some(code)
}

/// A small pseudo-random number (no extra dependency).
pub(crate) fn rand_u16() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    static CTR: AtomicU64 = AtomicU64::new(0);
    let c = CTR.fetch_add(0x9E37, Ordering::Relaxed);
    ((t as u64 ^ c ^ (std::process::id() as u64) << 7) as u16).wrapping_mul(31)
}

/// Worker loop: run jobs in order until stopping and the queue is empty.
pub(crate) fn worker_main(mut conv: Conversation) {
    let shared = conv.shared.clone();
    loop {
        let next = {
            let Ok(mut q) = shared.queue.lock() else {
                return;
            };
            loop {
                if let Some(j) = q.jobs.pop_front() {
                    q.running = true;
                    break Some(j);
                }
                q.running = false;
                shared.wake.notify_all();
                if shared.stopping.load(Ordering::SeqCst) {
                    break None;
                }
                q = match shared.wake.wait(q) {
                    Ok(g) => g,
                    Err(_) => return,
                };
            }
        };
        let Some((generation, job)) = next else {
            return;
        };
        if shared.cancelled_since(generation) || conv.link.is_closed() {
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(JobRun::Cancelled)));
        } else {
            conv.generation = generation;
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                job(JobRun::Run(&mut conv))
            }));
        }
    }
}
