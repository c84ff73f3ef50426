//! The vehicle side: an FTP server jailed to a root directory.
//!
//! One thread per server selects over the link subscription (requests
//! addressed to the link's own system id and own component id or 0) and a
//! stop channel. Each request is answered from the reply cache when it is a
//! duplicate, otherwise by [`handlers`] (inside `catch_unwind`, so a bug in
//! one handler cannot kill the thread). Bursts ([`burst`]) are streamed in
//! slices between request handling, paced to the link's byte rate when known
//! (by each frame's size), and end after about a second of paced airtime
//! in which the requesting peer sent nothing.
//! The server stops when dropped and when the link closes.

pub mod burst;
pub mod handlers;
pub mod jail;
pub mod reply_cache;
pub mod sessions;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, select};

use crate::link::{FtpSubscription, IncomingFtp, Link, WeakLink};
use crate::protocol::{FtpPacket, NakCode, Opcode};
use crate::result::{FtpError, FtpOutcome, FtpResult};

use self::burst::BurstJob;
use self::handlers::{Ctx, Outcome};
use self::jail::RootJail;
use self::reply_cache::ReplyCache;
use self::sessions::{Peer, Sessions};

/// Packets of one burst sent in a row before pending requests are handled again.
const BURST_SLICE: usize = 16;
/// With pacing, packets due within this time are sent together.
const PACING_TICK: Duration = Duration::from_millis(2);
/// Burst pacing (bytes per second of frames) on links whose rate is unknown
/// (UDP, TCP, custom): fast enough for a fast client, slow enough that a
/// client in an interpreted language (pymavlink) does not lose most of a burst
/// in its socket buffer. See [`Server::set_unknown_link_rate`].
pub const DEFAULT_UNKNOWN_LINK_RATE: u32 = 3_000_000;
/// How often idle sessions and old cache entries are swept.
const SWEEP_EVERY: Duration = Duration::from_millis(200);

struct Shared {
    read_only: AtomicBool,
    idle_timeout_ms: AtomicU64,
    unknown_rate: AtomicU64,
}

/// Serves one root directory to every peer on a link. Dropping it closes all
/// sessions and files. All methods may be called from any thread.
pub struct Server {
    shared: Arc<Shared>,
    stop_tx: Sender<()>,
    thread: Option<JoinHandle<()>>,
    link: WeakLink,
    hook_id: u64,
}

impl Server {
    /// Serve `root_dir` (which must exist) to requests addressed to the
    /// link's own system/component id (or component 0).
    pub fn new(link: &Link, root_dir: &Path) -> FtpOutcome<Server> {
        let jail = RootJail::new(root_dir).map_err(|e| {
            FtpError::new(
                FtpResult::FileDoesNotExist,
                format!(
                    "server root {} is not an existing directory: {e}",
                    root_dir.display()
                ),
            )
        })?;
        let shared = Arc::new(Shared {
            read_only: AtomicBool::new(false),
            idle_timeout_ms: AtomicU64::new(sessions::DEFAULT_IDLE_TIMEOUT.as_millis() as u64),
            unknown_rate: AtomicU64::new(DEFAULT_UNKNOWN_LINK_RATE as u64),
        });
        let own_sys = link.own_system_id();
        let own_comp = link.own_component_id();
        let subscription = link.subscribe(move |m: &IncomingFtp| {
            !m.packet.opcode.is_reply()
                && m.target_system == own_sys
                && (m.target_component == own_comp || m.target_component == 0)
        });
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let hook_tx = stop_tx.clone();
        let hook_id = link.on_close(Box::new(move || {
            let _ = hook_tx.try_send(());
        }));
        let weak = link.downgrade();
        let worker = Worker {
            jail,
            sessions: Sessions::default(),
            cache: ReplyCache::new(),
            bursts: Vec::new(),
            shared: Arc::clone(&shared),
            link: weak.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("mavftp-server".into())
            .spawn(move || worker.run(subscription, stop_rx))
            .map_err(|e| FtpError::io("cannot start the server thread", &e))?;
        Ok(Server {
            shared,
            stop_tx,
            thread: Some(thread),
            link: weak,
            hook_id,
        })
    }

    /// Refuse (or allow again) every write, create, remove and rename with
    /// NAK FileProtected.
    pub fn set_read_only(&self, read_only: bool) {
        self.shared.read_only.store(read_only, Ordering::SeqCst);
    }

    /// Pace bursts at `bytes_per_second` on links that do not know their
    /// rate (0 = send as fast as possible). Links with a known rate (serial,
    /// simulated) are always paced at their rate.
    pub fn set_unknown_link_rate(&self, bytes_per_second: u32) {
        self.shared
            .unknown_rate
            .store(bytes_per_second as u64, Ordering::SeqCst);
    }

    /// Change the idle timeout after which sessions are reclaimed (tests).
    #[doc(hidden)]
    pub fn set_idle_timeout(&self, timeout: Duration) {
        self.shared
            .idle_timeout_ms
            .store(timeout.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(link) = self.link.upgrade() {
            link.remove_close_hook(self.hook_id);
        }
        let _ = self.stop_tx.try_send(());
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

struct Worker {
    jail: RootJail,
    sessions: Sessions,
    cache: ReplyCache,
    bursts: Vec<BurstJob>,
    shared: Arc<Shared>,
    link: WeakLink,
}

impl Worker {
    fn run(mut self, subscription: FtpSubscription, stop_rx: Receiver<()>) {
        let receiver = subscription.receiver.clone();
        let mut last_sweep = Instant::now();
        loop {
            let timeout = self.wait_time();
            select! {
                recv(receiver) -> msg => match msg {
                    Ok(m) => self.on_request(m),
                    Err(_) => break,
                },
                recv(stop_rx) -> _ => break,
                default(timeout) => {}
            }
            // Handle whatever else is already waiting before streaming more.
            for _ in 0..64 {
                match receiver.try_recv() {
                    Ok(m) => self.on_request(m),
                    Err(_) => break,
                }
            }
            if !stop_rx.is_empty() {
                break;
            }
            if !self.pump_bursts() {
                break;
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = Instant::now();
                let idle =
                    Duration::from_millis(self.shared.idle_timeout_ms.load(Ordering::SeqCst));
                self.sessions.set_idle_timeout(idle);
                self.sessions.sweep(Instant::now());
                self.cache.sweep();
            }
        }
        self.bursts.clear();
        self.sessions.clear();
        drop(subscription);
    }

    fn wait_time(&self) -> Duration {
        let now = Instant::now();
        match self.bursts.iter().map(|b| b.next_due).min() {
            Some(due) => due.saturating_duration_since(now),
            None => SWEEP_EVERY,
        }
    }

    fn send(&self, peer: Peer, packet: &FtpPacket) -> bool {
        match self.link.upgrade() {
            Some(link) => {
                let _ = link.send_ftp(peer.0, peer.1, packet);
                true
            }
            None => false,
        }
    }

    fn on_request(&mut self, m: IncomingFtp) {
        let peer = (m.source_system, m.source_component);
        let req = m.packet;
        for burst in self.bursts.iter_mut().filter(|b| b.peer == peer) {
            burst.peer_spoke();
        }
        if let Some(replies) = self.cache.lookup(peer, &req) {
            for r in replies {
                self.send(peer, r);
            }
            return;
        }
        // A duplicate of a burst that is still streaming: let it stream.
        if req.opcode == Opcode::BurstReadFile
            && self
                .bursts
                .iter()
                .any(|b| b.peer == peer && b.request == req)
        {
            return;
        }
        let read_only = self.shared.read_only.load(Ordering::SeqCst);
        let outcome = {
            let mut ctx = Ctx {
                jail: &self.jail,
                sessions: &mut self.sessions,
                cache: &mut self.cache,
                read_only,
                peer,
            };
            catch_unwind(AssertUnwindSafe(|| handlers::handle(&mut ctx, &req))).unwrap_or_else(
                |_| Outcome::Reply(vec![FtpPacket::nak_for(&req, NakCode::Fail, 0)]),
            )
        };
        match req.opcode {
            Opcode::ResetSessions => self.bursts.retain(|b| b.peer != peer),
            Opcode::TerminateSession => self
                .bursts
                .retain(|b| !(b.peer == peer && b.session == req.session)),
            _ => {}
        }
        match outcome {
            Outcome::Reply(replies) => {
                if let Some(first) = replies.first()
                    && matches!(
                        req.opcode,
                        Opcode::OpenFileRO | Opcode::OpenFileWO | Opcode::CreateFile
                    )
                    && first.opcode == Opcode::Ack
                {
                    let id = first.session;
                    self.bursts.retain(|b| !(b.peer == peer && b.session == id));
                }
                // A new client process may start with the same ResetSessions
                // seq as the last one: it must run again, never be replayed.
                if req.opcode != Opcode::ResetSessions {
                    self.cache.store(peer, &req, &replies);
                }
                for r in &replies {
                    self.send(peer, r);
                }
            }
            Outcome::Burst(job) => {
                self.bursts
                    .retain(|b| !(b.peer == job.peer && b.session == job.session));
                self.bursts.push(job);
            }
        }
    }

    /// Send one slice of every due burst; false when the link is gone.
    fn pump_bursts(&mut self) -> bool {
        if self.bursts.is_empty() {
            return true;
        }
        let Some(link) = self.link.upgrade() else {
            return false;
        };
        let rate =
            link.byte_rate()
                .or_else(|| match self.shared.unknown_rate.load(Ordering::SeqCst) {
                    0 => None,
                    r => Some(r.min(u32::MAX as u64) as u32),
                });
        let interval = BurstJob::interval(rate);
        // Send a few packets per wake-up when they are close together.
        let slice = if interval.is_zero() {
            BURST_SLICE
        } else {
            (PACING_TICK.as_nanos() / interval.as_nanos().max(1)).clamp(1, BURST_SLICE as u128)
                as usize
        };
        let now = Instant::now();
        let mut jobs = std::mem::take(&mut self.bursts);
        for job in &mut jobs {
            if job.next_due > now {
                continue;
            }
            job.set_byte_rate(rate);
            let packets = match handlers::session_file(&mut self.sessions, job.peer, job.session) {
                Some(file) => job.next_packets(file, slice),
                None => {
                    // The session went away (Terminate, Reset, idle): stop silently.
                    continue;
                }
            };
            let mut airtime = Duration::ZERO;
            for p in &packets {
                let _ = link.send_ftp(job.peer.0, job.peer.1, p);
                airtime += BurstJob::wire_time(p.data.len(), rate);
            }
            job.next_due = now.max(job.next_due) + airtime;
        }
        jobs.retain(|j| !j.is_finished() && self.sessions.contains(j.peer, j.session));
        self.bursts = jobs;
        true
    }
}
