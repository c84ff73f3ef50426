//! The vehicle side: an FTP server jailed to a root directory.
//!
//! # Peers
//! A peer is (route, system id, component id) (`sessions::Peer`): two
//! ground stations with the same own ids on two UDP ports or TCP connections
//! are two peers. Each has its own sessions (within per-peer, per-route and
//! total limits: `sessions.rs`), reply cache (`reply_cache.rs`), listing
//! snapshot and burst rate; ResetSessions and TerminateSession only ever
//! touch the requester's own sessions. Every reply and burst packet goes out
//! on the route of the request it answers ([`Link::send_ftp_via`]), never to
//! other peers. A request whose size field is 240–255 gets NAK
//! InvalidDataSize.
//!
//! # Threads
//! - The *dispatcher* thread reads requests from the link (a bounded queue:
//!   what does not fit is dropped, as by a full socket), streams bursts
//!   (`burst.rs`) in paced slices, and sweeps idle sessions and peers. It
//!   answers cheap session requests (ReadFile, BurstReadFile,
//!   TerminateSession, ResetSessions, None, unknown opcodes) itself when the
//!   peer has nothing else waiting. The thread that reads the link (or the
//!   dispatcher, for fed links) does the same, and handles WriteFile too,
//!   at the end of the read (one UDP read is up to 32 datagrams): the
//!   contiguous writes of a read are written with one `pwritev` and
//!   answered with the read's other replies (`writes.rs`). After one write
//!   took 4 ms or more (a slow disk), writes go to the workers for 5 s, so
//!   that a slow disk holds up the link's input for other peers once at most.
//! - Two worker threads do everything that touches paths or may take
//!   long — open/create, listings, CRC, writes while the disk is slow or
//!   when the peer has other requests waiting, mkdir/rm/rename/truncate.
//!   Requests wait in their peer's inbox and are handled in arrival order per
//!   peer; peers get bounded turns round-robin by route (`peers.rs`). Long
//!   work (a CRC over gigabytes, a huge directory) is done in steps of about
//!   4 ms (`peers::TURN_TIME`) between other peers' turns, and CRC results are
//!   cached (`work.rs`). So a flood from one route (any number of ids) costs
//!   every other route at most a few turns of latency, and nothing a peer
//!   sends makes the server hold more than bounded state.
//!
//! Handlers run inside `catch_unwind` (a bug in one cannot kill a thread).
//! The server stops when dropped and when the link closes.

pub(crate) mod burst;
pub(crate) mod handlers;
pub(crate) mod jail;
pub(crate) mod peers;
pub(crate) mod reply_cache;
pub(crate) mod sessions;
pub(crate) mod work;
pub(crate) mod writes;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, select};
use parking_lot::{Condvar, Mutex};

use crate::link::{FtpSubscription, IncomingFtp, Link, WeakLink};
use crate::protocol::{FtpPacket, NakCode, Opcode};
use crate::result::{FtpError, FtpOutcome, FtpResult};

use self::burst::BurstJob;
pub use self::burst::Pacing;
use self::handlers::{Ctx, Outcome};
use self::jail::RootJail;
use self::peers::{Arrival, Intake, PeerState, Request, Scheduler};
use self::sessions::{Peer, Quota};
use self::work::CrcCache;
use self::writes::DiskPace;

/// Packets of one burst sent in a row before pending requests are handled again.
const BURST_SLICE: usize = 16;
/// With pacing, packets due within this time are sent together.
const PACING_TICK: Duration = Duration::from_millis(2);
/// Lateness of a burst wake-up that pacing makes up: a timer wakes a little
/// late, and adding that to every packet's interval slowed a 92,160 B/s
/// burst by about 5 % (3.07 ms per 2.92 ms packet). What is made up leaves
/// at most this much early into the radio's queue.
const PACING_CATCH_UP: Duration = Duration::from_millis(4);
/// How often idle sessions, peers and old cache entries are swept.
const SWEEP_EVERY: Duration = Duration::from_millis(200);
/// Requests received but not yet dispatched; more are dropped.
pub(crate) const REQUEST_QUEUE: usize = 8192;
/// Threads that handle requests which touch paths or may take long.
pub(crate) const WORKERS: usize = 2;
/// `set_unknown_link_rate` value that restores the default adaptive pacing.
pub const ADAPTIVE_LINK_RATE: u32 = u32::MAX;

struct Settings {
    read_only: AtomicBool,
    idle_timeout_ms: AtomicU64,
    pacing: Mutex<Pacing>,
}

impl Settings {
    fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms.load(Ordering::SeqCst))
    }
}

/// What the dispatcher and the workers share.
struct Core {
    jail: RootJail,
    settings: Settings,
    link: WeakLink,
    sched: Mutex<Scheduler>,
    work_ready: Condvar,
    crc_cache: Mutex<CrcCache>,
    quota: Arc<Mutex<Quota>>,
    bursts: AtomicUsize,
    /// The bursts streaming, paced by the dispatcher.
    streams: Mutex<Vec<BurstJob>>,
    /// Wakes the dispatcher (a burst started).
    wake: Sender<()>,
    /// Whether writes may be answered on the thread that read them.
    disk: DiskPace,
    /// Peers whose requests wait for the end of the read they came in
    /// ([`Intake::EndOfRead`]), with their state.
    at_end_of_read: Mutex<Vec<(Peer, Box<PeerState>)>>,
}

/// Counters of a running server (diagnostics: what it holds and what it
/// dropped), from [`Server::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Peers known.
    pub peers: usize,
    /// Sessions open.
    pub sessions: usize,
    /// Requests waiting in peers' inboxes.
    pub queued_requests: usize,
    /// Requests worked on in steps (CRC, listing).
    pub pending_jobs: usize,
    /// Entries held in listing snapshots.
    pub listing_entries: usize,
    /// Bursts streaming.
    pub bursts: usize,
    /// CRC results cached.
    pub crc_cache_entries: usize,
    /// Requests dropped (inbox full, no room for a new peer).
    pub dropped_requests: u64,
}

/// Serves one root directory to every peer on a link. Dropping it closes all
/// sessions and files. All methods may be called from any thread.
pub struct Server {
    core: Arc<Core>,
    stop_tx: Sender<()>,
    threads: Vec<JoinHandle<()>>,
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
        let own_sys = link.own_system_id();
        let own_comp = link.own_component_id();
        let accept = move |m: &IncomingFtp| {
            !m.packet.opcode.is_reply()
                && m.target_system == own_sys
                && (m.target_component == own_comp || m.target_component == 0)
        };
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let hook_tx = stop_tx.clone();
        let hook_id = link.on_close(Box::new(move || {
            let _ = hook_tx.try_send(());
        }));
        let (wake_tx, wake_rx) = bounded(1);
        let quota = Arc::new(Mutex::new(Quota::default()));
        let core = Arc::new(Core {
            jail,
            settings: Settings {
                read_only: AtomicBool::new(false),
                idle_timeout_ms: AtomicU64::new(sessions::DEFAULT_IDLE_TIMEOUT.as_millis() as u64),
                pacing: Mutex::new(Pacing::Adaptive),
            },
            link: link.downgrade(),
            sched: Mutex::new(Scheduler::new(Arc::clone(&quota))),
            work_ready: Condvar::new(),
            crc_cache: Mutex::new(CrcCache::default()),
            quota,
            bursts: AtomicUsize::new(0),
            streams: Mutex::new(Vec::new()),
            wake: wake_tx,
            disk: DiskPace::default(),
            at_end_of_read: Mutex::new(Vec::new()),
        });
        // Requests read by the link's own reader threads are taken in on
        // that thread (no hand-off); fed ones (custom and simulated links)
        // through the queue, so that feeding never sends from the feeder.
        let intake = Arc::downgrade(&core);
        let read_ends = Arc::downgrade(&core);
        let subscription = link.subscribe_requests_inline(
            REQUEST_QUEUE,
            accept,
            Box::new(move |m| {
                if let Some(core) = intake.upgrade() {
                    on_request(&core, m);
                }
            }),
            Box::new(move || {
                if let Some(core) = read_ends.upgrade() {
                    end_of_read(&core);
                }
            }),
        );
        let mut server = Server {
            core: Arc::clone(&core),
            stop_tx,
            threads: Vec::new(),
            hook_id,
        };
        for i in 0..WORKERS {
            let core = Arc::clone(&core);
            let handle = std::thread::Builder::new()
                .name(format!("mavftp-server-w{i}"))
                .spawn(move || worker_main(&core))
                .map_err(|e| FtpError::io("cannot start a server worker thread", &e))?;
            server.threads.push(handle);
        }
        let dispatcher = Dispatcher { core, line: None };
        let handle = std::thread::Builder::new()
            .name("mavftp-server".into())
            .spawn(move || dispatcher.run(subscription, wake_rx, stop_rx))
            .map_err(|e| FtpError::io("cannot start the server thread", &e))?;
        server.threads.push(handle);
        Ok(server)
    }

    /// Refuse (or allow again) every write, create, remove and rename with
    /// NAK FileProtected.
    pub fn set_read_only(&self, read_only: bool) {
        self.core
            .settings
            .read_only
            .store(read_only, Ordering::SeqCst);
    }

    /// How bursts are paced on links that do not know their rate (UDP, TCP,
    /// custom); links with a known rate (serial, simulated) are always
    /// paced at their rate. The default is [`Pacing::Adaptive`].
    pub fn set_burst_pacing(&self, pacing: Pacing) {
        *self.core.settings.pacing.lock() = pacing;
    }

    /// Pace bursts at `bytes_per_second` on links that do not know their
    /// rate, as on a link of that known rate (0 = send as fast as possible;
    /// [`ADAPTIVE_LINK_RATE`] = the default adaptive flow control, see
    /// `burst.rs`). Links with a known rate (serial, simulated) are always
    /// paced at their rate.
    pub fn set_unknown_link_rate(&self, bytes_per_second: u32) {
        self.set_burst_pacing(match bytes_per_second {
            0 => Pacing::Unpaced,
            ADAPTIVE_LINK_RATE => Pacing::Adaptive,
            r => Pacing::Fixed(r),
        });
    }

    /// How long a session may go unused, and a peer stay silent, before
    /// the server forgets it (default 10 s).
    pub fn set_idle_timeout(&self, timeout: Duration) {
        self.core
            .settings
            .idle_timeout_ms
            .store(timeout.as_millis() as u64, Ordering::SeqCst);
    }

    /// Counters of what the server holds now and what it dropped so far.
    pub fn stats(&self) -> ServerStats {
        let counts = self.core.sched.lock().counts();
        ServerStats {
            peers: counts.peers,
            sessions: self.core.quota.lock().total(),
            queued_requests: counts.queued_requests,
            pending_jobs: counts.pending_jobs,
            listing_entries: counts.listing_entries,
            bursts: self.core.bursts.load(Ordering::SeqCst),
            crc_cache_entries: self.core.crc_cache.lock().len(),
            dropped_requests: counts.dropped,
        }
    }

    /// The adaptive burst rate of each known peer: (system, component,
    /// bytes per second of frames) (diagnostics; see the [`Pacing::Adaptive`]
    /// flow control).
    pub fn burst_rates(&self) -> Vec<(u8, u8, u32)> {
        self.core.sched.lock().rates()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(link) = self.core.link.upgrade() {
            link.remove_close_hook(self.hook_id);
        }
        let _ = self.stop_tx.try_send(());
        stop_workers(&self.core);
        let me = std::thread::current().id();
        for thread in self.threads.drain(..) {
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
        // Close every session (and file) now, not when the last Arc goes.
        self.core.sched.lock().clear();
        self.core.at_end_of_read.lock().clear();
    }
}

impl Core {
    /// What a handler needs to answer a request of `peer`.
    fn handler_context<'a>(&'a self, peer: Peer, state: &'a mut PeerState) -> Ctx<'a> {
        Ctx {
            jail: &self.jail,
            peer,
            state,
            read_only: self.settings.read_only.load(Ordering::SeqCst),
            idle: self.settings.idle(),
            crc_cache: &self.crc_cache,
        }
    }
}

fn stop_workers(core: &Core) {
    core.sched.lock().stopping = true;
    core.work_ready.notify_all();
}

/// Whether the dispatcher may answer `req` itself (cheap, no path, no disk
/// work beyond reading up to 239 bytes of an open file).
fn is_cheap(req: &Request) -> bool {
    req.invalid_size.is_some()
        || matches!(
            req.packet.opcode,
            Opcode::ReadFile
                | Opcode::BurstReadFile
                | Opcode::TerminateSession
                | Opcode::ResetSessions
                | Opcode::None
                | Opcode::Unknown(_)
        )
}

/// Whether `req` is a WriteFile (with a valid size field).
fn is_write(req: &Request) -> bool {
    req.invalid_size.is_none() && req.packet.opcode == Opcode::WriteFile
}

/// Which requests the thread that read them may handle at the end of the
/// read: cheap ones, and writes while the disk is fast (`writes.rs`).
fn reader_may_handle(disk: &DiskPace, req: &Request) -> bool {
    is_cheap(req) || (is_write(req) && disk.fast())
}

/// Handle one request of `peer` (its state checked out): reply from the
/// cache, or run its handler. Bursts it starts are pushed to `bursts`.
fn handle_request(
    core: &Core,
    link: &Link,
    state: &mut PeerState,
    req: Request,
    bursts: &mut Vec<BurstJob>,
) {
    let peer = req.peer;
    let packet = req.packet;
    if req.invalid_size.is_some() {
        send(
            link,
            peer,
            &[FtpPacket::nak_for(&packet, NakCode::InvalidDataSize, 0)],
        );
        return;
    }
    if let Some(replies) = state.cache.lookup(&packet) {
        send(link, peer, replies);
        return;
    }
    let outcome = {
        let mut ctx = core.handler_context(peer, state);
        catch_unwind(AssertUnwindSafe(|| handlers::handle(&mut ctx, &packet)))
            .unwrap_or_else(|_| Outcome::Reply(vec![FtpPacket::nak_for(&packet, NakCode::Fail, 0)]))
    };
    deliver(link, peer, state, packet, outcome, bursts);
}

/// Act on a handler's outcome for `request`.
fn deliver(
    link: &Link,
    peer: Peer,
    state: &mut PeerState,
    request: FtpPacket,
    outcome: Outcome,
    bursts: &mut Vec<BurstJob>,
) {
    match outcome {
        Outcome::Reply(replies) => {
            send(link, peer, &replies);
            // A new client process may start with the same ResetSessions
            // seq as the last one: it must run again, never be replayed.
            if request.opcode != Opcode::ResetSessions {
                state.cache.store(request, replies);
            }
        }
        Outcome::Burst(job) => bursts.push(job),
        Outcome::Pending(p) => state.pending = Some(p),
    }
}

/// Handle `first` (a WriteFile not answered from the cache) together with
/// the writes waiting in `peer`'s inbox that continue it (a run,
/// `writes.rs`): one `pwritev`, then one reply each. Returns how many
/// requests that was.
fn handle_writes(
    core: &Core,
    link: &Link,
    peer: Peer,
    state: &mut PeerState,
    first: FtpPacket,
) -> usize {
    let mut run = vec![first];
    {
        let mut sched = core.sched.lock();
        loop {
            let next = sched.next_request(peer, |r| {
                is_write(r)
                    && writes::continues(&run, &r.packet)
                    && state.cache.lookup(&r.packet).is_none()
            });
            let Some(next) = next else { break };
            run.push(next.packet);
        }
    }
    let started = Instant::now();
    let outcomes = {
        let mut ctx = core.handler_context(peer, state);
        catch_unwind(AssertUnwindSafe(|| writes::write_run(&mut ctx, &run))).unwrap_or_default()
    };
    core.disk.note(started.elapsed());
    let n = run.len();
    let mut outcomes = outcomes.into_iter();
    for request in run {
        let outcome = outcomes.next().unwrap_or_else(|| {
            Outcome::Reply(vec![FtpPacket::nak_for(&request, NakCode::Fail, 0)])
        });
        deliver(link, peer, state, request, outcome, &mut Vec::new());
    }
    n
}

fn send(link: &Link, peer: Peer, replies: &[FtpPacket]) {
    for r in replies {
        let _ = link.send_ftp_via(peer.0, peer.1, peer.2, r);
    }
}

/// Which thread runs a turn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TurnOf {
    /// A worker: any request.
    Worker,
    /// The thread that read the requests, at the end of its read: the
    /// requests [`reader_may_handle`]; the turn ends at any other.
    Reader,
}

/// One turn of a peer: steps of its pending work and its waiting requests,
/// in order, for at most [`peers::TURN_REQUESTS`] requests or
/// 4 ms (`peers::TURN_TIME`).
fn run_turn(
    core: &Core,
    link: &Link,
    peer: Peer,
    state: &mut PeerState,
    bursts: &mut Vec<BurstJob>,
    of: TurnOf,
) {
    let deadline = Instant::now() + peers::TURN_TIME;
    let mut handled = 0;
    loop {
        if state.pending.is_some() && core.sched.lock().silent_for(peer) >= core.settings.idle() {
            // Nobody waits for this answer any more (see [`peers`]).
            state.pending = None;
        }
        if let Some(mut pending) = state.pending.take() {
            let request = pending.request().clone();
            let done = {
                let mut ctx = core.handler_context(peer, state);
                catch_unwind(AssertUnwindSafe(|| {
                    handlers::finish_step(&mut ctx, &mut pending, deadline)
                }))
                .unwrap_or_else(|_| {
                    Some(Outcome::Reply(vec![FtpPacket::nak_for(
                        &request,
                        NakCode::Fail,
                        0,
                    )]))
                })
            };
            match done {
                None => {
                    state.pending = Some(pending);
                    return;
                }
                Some(outcome) => deliver(link, peer, state, request, outcome, bursts),
            }
            continue;
        }
        if handled >= peers::TURN_REQUESTS || Instant::now() >= deadline {
            return;
        }
        let next = core.sched.lock().next_request(peer, |r| {
            of == TurnOf::Worker || reader_may_handle(&core.disk, r)
        });
        let Some(req) = next else {
            return;
        };
        if is_write(&req) && state.cache.lookup(&req.packet).is_none() {
            handled += handle_writes(core, link, peer, state, req.packet);
        } else {
            handle_request(core, link, state, req, bursts);
            handled += 1;
        }
    }
}

fn worker_main(core: &Core) {
    let mut bursts = Vec::new();
    loop {
        let (peer, mut state) = {
            let mut sched = core.sched.lock();
            loop {
                if sched.stopping {
                    return;
                }
                if let Some(next) = sched.take_ready() {
                    break next;
                }
                core.work_ready.wait(&mut sched);
            }
        };
        let Some(link) = core.link.upgrade() else {
            // The link is gone: the server is done.
            core.sched.lock().check_in(peer, state);
            return;
        };
        // The replies of one turn (up to TURN_REQUESTS requests, at most
        // about 4 ms) leave together: one sendmmsg on UDP.
        link.batch_sends(|| run_turn(core, &link, peer, &mut state, &mut bursts, TurnOf::Worker));
        drop(link);
        for job in bursts.drain(..) {
            start_burst(core, job);
        }
        if core.sched.lock().check_in(peer, state) {
            core.work_ready.notify_one();
        }
    }
}

/// Stream `job` (replacing a burst of the same peer and session) and wake
/// the dispatcher.
fn start_burst(core: &Core, job: BurstJob) {
    let mut streams = core.streams.lock();
    streams.retain(|b| !(b.peer == job.peer && b.session == job.session));
    streams.push(job);
    core.bursts.store(streams.len(), Ordering::SeqCst);
    drop(streams);
    let _ = core.wake.try_send(());
}

/// Take in one request: answer it now if it is cheap and its peer has
/// nothing else waiting; keep it for the end of the read if it is a write
/// (while the disk is fast) and its peer has nothing else waiting; else
/// queue it for the workers. Runs on the thread that read it (or the
/// dispatcher, for fed links).
fn on_request(core: &Core, m: IncomingFtp) {
    let peer: Peer = (m.route, m.source_system, m.source_component);
    {
        let mut streams = core.streams.lock();
        for burst in streams.iter_mut().filter(|b| b.peer == peer) {
            burst.peer_spoke();
        }
        // A duplicate of a burst request that is still streaming: let it stream.
        if m.invalid_size.is_none()
            && m.packet.opcode == Opcode::BurstReadFile
            && streams
                .iter()
                .any(|b| b.peer == peer && b.request == m.packet && !b.is_finished())
        {
            return;
        }
    }
    let req = Request {
        peer,
        packet: m.packet,
        invalid_size: m.invalid_size,
    };
    let intake = if is_cheap(&req) {
        Intake::Now
    } else if reader_may_handle(&core.disk, &req) {
        Intake::EndOfRead
    } else {
        Intake::Queue
    };
    let arrival = core.sched.lock().arrive(req, intake);
    match arrival {
        Arrival::EndOfRead(state) => core.at_end_of_read.lock().push((peer, state)),
        Arrival::Now(req, mut state) => {
            let mut started = Vec::new();
            if let Some(link) = core.link.upgrade() {
                handle_request(core, &link, &mut state, req, &mut started);
            }
            if core.sched.lock().check_in(peer, state) {
                core.work_ready.notify_one();
            }
            for job in started {
                start_burst(core, job);
            }
        }
        Arrival::Queued(true) => {
            core.work_ready.notify_one();
        }
        Arrival::Queued(false) | Arrival::Dropped => {}
    }
}

/// The end of a read that [`on_request`] took requests from: a turn of
/// each peer whose requests wait for it ([`TurnOf::Reader`]), whose replies
/// leave with the read's; what the turn leaves goes to the workers.
fn end_of_read(core: &Core) {
    let peers = std::mem::take(&mut *core.at_end_of_read.lock());
    if peers.is_empty() {
        return;
    }
    let link = core.link.upgrade();
    let mut started = Vec::new();
    for (peer, mut state) in peers {
        if let Some(link) = &link {
            link.batch_sends(|| {
                run_turn(core, link, peer, &mut state, &mut started, TurnOf::Reader)
            });
        }
        if core.sched.lock().check_in(peer, state) {
            core.work_ready.notify_one();
        }
    }
    drop(link);
    for job in started {
        start_burst(core, job);
    }
}

/// Paces the bursts, sweeps idle state, and takes in the requests of fed
/// links.
struct Dispatcher {
    core: Arc<Core>,
    /// The link's airtime while bursts run on a link of known rate.
    line: Option<LineClock>,
}

/// The airtime of everything the link sends, while bursts run on a link of
/// known rate: burst packets, but also the replies to other requests (a
/// client's gap-fill reads and keep-alives, other peers), and heartbeats.
/// A burst paced at the link's rate by its own packets only would fill the
/// radio's queue with every such frame (draining at the 1 % headroom only),
/// and a long burst would overflow it: the lost packets bring gap-fill
/// reads whose replies fill it further.
struct LineClock {
    /// The link's sent-bytes count already accounted for.
    accounted: u64,
    /// When the link has sent everything accounted for.
    free_at: Instant,
    /// When the count was last read (bytes counted since were sent after).
    read_at: Instant,
}

impl Dispatcher {
    fn run(mut self, subscription: FtpSubscription, wake: Receiver<()>, stop_rx: Receiver<()>) {
        let receiver = subscription.receiver.clone();
        let mut last_sweep = Instant::now();
        loop {
            let timeout = self.wait_time();
            select! {
                recv(receiver) -> msg => match msg {
                    Ok(m) => on_request(&self.core, m),
                    Err(_) => break,
                },
                recv(wake) -> _ => {},
                recv(stop_rx) -> _ => break,
                default(timeout) => {}
            }
            // Handle whatever else is already waiting before streaming more.
            for _ in 0..64 {
                match receiver.try_recv() {
                    Ok(m) => on_request(&self.core, m),
                    Err(_) => break,
                }
            }
            end_of_read(&self.core);
            if !stop_rx.is_empty() {
                break;
            }
            if !self.pump_bursts() {
                break;
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = Instant::now();
                let idle = self.core.settings.idle();
                self.core.sched.lock().sweep(idle);
            }
        }
        self.core.streams.lock().clear();
        self.core.bursts.store(0, Ordering::SeqCst);
        stop_workers(&self.core);
        drop(subscription);
    }

    fn wait_time(&self) -> Duration {
        let now = Instant::now();
        let line_free = self.line.as_ref().map_or(now, |l| l.free_at);
        match self.core.streams.lock().iter().map(|b| b.next_due).min() {
            Some(due) => due
                .max(line_free)
                .saturating_duration_since(now)
                .min(SWEEP_EVERY),
            None => SWEEP_EVERY,
        }
    }

    /// Whether the link of known `rate` is free to send burst packets now
    /// (see [`LineClock`]), after accounting what it sent since the last look.
    fn line_free(&mut self, link: &Link, rate: u32, now: Instant) -> bool {
        let sent = link.sent_bytes();
        let line = self.line.get_or_insert(LineClock {
            accounted: sent,
            free_at: now,
            read_at: now,
        });
        let new = sent.saturating_sub(line.accounted);
        line.accounted = sent;
        // A wake-up a little late (timer slack) is made up, not added to
        // every packet's interval (see PACING_CATCH_UP).
        let idle_from = line
            .read_at
            .checked_sub(PACING_CATCH_UP)
            .unwrap_or(line.read_at);
        line.free_at = line.free_at.max(idle_from) + BurstJob::line_time(new, rate);
        line.read_at = now;
        line.free_at <= now
    }

    /// Send one slice of every due burst; false when the link is gone.
    fn pump_bursts(&mut self) -> bool {
        if self.core.streams.lock().is_empty() {
            self.line = None;
            return true;
        }
        // Taken before the streams' lock and dropped after it: dropping the
        // last link handle closes the link, which joins its reader thread,
        // which may be waiting for that lock in `on_request`.
        let Some(link) = self.core.link.upgrade() else {
            return false;
        };
        let core = Arc::clone(&self.core);
        let mut streams = core.streams.lock();
        let pacing = match link.byte_rate() {
            Some(rate) => Pacing::Fixed(rate),
            None => *self.core.settings.pacing.lock(),
        };
        let signature_bytes = link.signature_bytes();
        let now = Instant::now();
        match pacing {
            Pacing::Fixed(rate) if rate > 0 => {
                if !self.line_free(&link, rate, now) {
                    return true;
                }
            }
            _ => self.line = None,
        }
        // The slices of this wake-up leave together (one sendmmsg on UDP).
        link.batch_sends(|| self.pump_due(&link, &mut streams, pacing, signature_bytes, now));
        streams.retain(|j| !j.is_finished());
        self.core.bursts.store(streams.len(), Ordering::SeqCst);
        true
    }

    /// Send one slice of every burst due at `now`.
    fn pump_due(
        &self,
        link: &Link,
        streams: &mut [BurstJob],
        pacing: Pacing,
        signature_bytes: u32,
        now: Instant,
    ) {
        for job in streams.iter_mut() {
            if job.next_due > now {
                continue;
            }
            job.set_signature_bytes(signature_bytes);
            let interval = BurstJob::interval(job.rate(pacing));
            // Send a few packets per wake-up when they are close together.
            let slice = if interval.is_zero() {
                BURST_SLICE
            } else {
                (PACING_TICK.as_nanos() / interval.as_nanos().max(1)).clamp(1, BURST_SLICE as u128)
                    as usize
            };
            let peer = job.peer;
            let airtime = job.pump(pacing, slice, |p| {
                let _ = link.send_ftp_via(peer.0, peer.1, peer.2, p);
            });
            // Late by less than PACING_CATCH_UP: keep to the schedule.
            let late = now.saturating_duration_since(job.next_due);
            let from = if late <= PACING_CATCH_UP {
                job.next_due
            } else {
                now
            };
            job.next_due = from + airtime;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Route;

    fn request(op: Opcode) -> Request {
        Request {
            peer: (Route::LOCAL, 1, 1),
            packet: FtpPacket::request(op, 1),
            invalid_size: None,
        }
    }

    #[test]
    fn the_reading_thread_writes_while_the_disk_is_fast_and_never_opens() {
        let disk = DiskPace::default();
        assert!(reader_may_handle(&disk, &request(Opcode::WriteFile)));
        assert!(reader_may_handle(&disk, &request(Opcode::ReadFile)));
        for op in [
            Opcode::CreateFile,
            Opcode::OpenFileWO,
            Opcode::CalcFileCRC32,
        ] {
            assert!(!reader_may_handle(&disk, &request(op)), "{op:?}");
        }
        let mut bad = request(Opcode::WriteFile);
        bad.invalid_size = Some(250);
        assert!(!is_write(&bad), "an invalid size is answered at once");
        disk.note(writes::SLOW_WRITE);
        assert!(!reader_may_handle(&disk, &request(Opcode::WriteFile)));
        assert!(reader_may_handle(&disk, &request(Opcode::ReadFile)));
    }
}
