//! An in-process link simulator: two connected [`Link`]s ([`link_pair`]) whose
//! directions can each be impaired like a real radio link — byte rate with a
//! drop-tail queue, one-way delay, loss, duplication, reordering and bit
//! corruption (the MAVLink CRC then rejects the frame) — all driven by a seeded
//! PRNG so that a run repeats. [`ImpairedPipe`] is the engine on its own (the
//! `linkproxy` example uses it between UDP sockets).
//!
//! Loss comes in two modes ([`LossMode`]): by default a lost frame is lost on
//! the air, after it waited in the queue and took its airtime, as on a radio;
//! [`LossMode::BeforeLink`] drops it on entry, free of airtime (the model the
//! simulator had first). Both draw the same decisions from the same seed, so a
//! run in either mode loses the same frames (unless the queue is full).

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Link;
use super::linkcore::{LinkCore, Transport};
use crate::result::{FtpError, FtpOutcome};

/// How much a direction may hold in its queue before dropping new frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueLimit {
    /// Never drop for lack of queue space.
    Unlimited,
    /// Drop a frame when the queued bytes plus the frame exceed this.
    Bytes(usize),
    /// Drop a frame when the queue already holds more than this much airtime.
    Time(Duration),
}

/// What a lost frame costs the link (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LossMode {
    /// Lost on the air: the frame takes its place in the queue and its
    /// airtime at the link's rate, then never arrives (a radio frame hit by
    /// noise). With loss p on a saturated link, (1 − p) of the rate arrives.
    #[default]
    OnAir,
    /// Lost before the link: dropped on entry, it costs no queue space and no
    /// airtime, so a saturated link still delivers its full rate.
    BeforeLink,
}

impl LossMode {
    /// The mode's name on command lines: `on-air` or `before-link`.
    pub fn key(self) -> &'static str {
        match self {
            LossMode::OnAir => "on-air",
            LossMode::BeforeLink => "before-link",
        }
    }
}

impl std::fmt::Display for LossMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

impl std::str::FromStr for LossMode {
    type Err = String;

    /// `on-air` or `before-link`.
    fn from_str(s: &str) -> Result<LossMode, String> {
        [LossMode::OnAir, LossMode::BeforeLink]
            .into_iter()
            .find(|m| m.key() == s)
            .ok_or_else(|| format!("unknown loss mode '{s}' (on-air or before-link)"))
    }
}

/// The impairments of one direction. [`Impairment::none`] is a perfect,
/// immediate link; the `with_*` methods change one property each.
#[derive(Debug, Clone, PartialEq)]
pub struct Impairment {
    /// Capacity in bytes per second; None = unlimited.
    pub rate: Option<u32>,
    /// Queue limit in front of the rate limiter (ignored without a rate).
    pub queue_limit: QueueLimit,
    /// One-way delay added to every frame.
    pub delay: Duration,
    /// Probability that a frame is lost.
    pub loss: f64,
    /// Whether a lost frame still takes its queue place and airtime.
    pub loss_mode: LossMode,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a frame is held back by `reorder_hold` (arriving after later frames).
    pub reorder: f64,
    /// How long a reordered frame is held back.
    pub reorder_hold: Duration,
    /// Probability that one bit of a frame is flipped.
    pub corrupt: f64,
    /// PRNG seed; the same seed and the same input give the same decisions.
    pub seed: u64,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment::none()
    }
}

impl Impairment {
    /// A perfect link: no rate limit, no delay, nothing lost.
    pub fn none() -> Impairment {
        Impairment {
            rate: None,
            queue_limit: QueueLimit::Unlimited,
            delay: Duration::ZERO,
            loss: 0.0,
            loss_mode: LossMode::OnAir,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_hold: Duration::from_millis(5),
            corrupt: 0.0,
            seed: 1,
        }
    }

    /// A 57600-baud telemetry radio: 5760 B/s, 1 s of queue, 10 ms delay.
    pub fn radio_57600() -> Impairment {
        Impairment::none()
            .with_rate(5760)
            .with_queue_limit(QueueLimit::Time(Duration::from_secs(1)))
            .with_delay(Duration::from_millis(10))
    }

    /// Set the byte rate (bytes per second).
    pub fn with_rate(mut self, bytes_per_second: u32) -> Impairment {
        self.rate = Some(bytes_per_second.max(1));
        self
    }

    /// Set the queue limit.
    pub fn with_queue_limit(mut self, limit: QueueLimit) -> Impairment {
        self.queue_limit = limit;
        self
    }

    /// Set the one-way delay.
    pub fn with_delay(mut self, delay: Duration) -> Impairment {
        self.delay = delay;
        self
    }

    /// Set the loss probability (0..1).
    pub fn with_loss(mut self, probability: f64) -> Impairment {
        self.loss = probability;
        self
    }

    /// Set what a lost frame costs (see [`LossMode`]).
    pub fn with_loss_mode(mut self, mode: LossMode) -> Impairment {
        self.loss_mode = mode;
        self
    }

    /// Set the duplication probability (0..1).
    pub fn with_duplicate(mut self, probability: f64) -> Impairment {
        self.duplicate = probability;
        self
    }

    /// Set the reorder probability (0..1) and hold time.
    pub fn with_reorder(mut self, probability: f64, hold: Duration) -> Impairment {
        self.reorder = probability;
        self.reorder_hold = hold;
        self
    }

    /// Set the bit-corruption probability (0..1).
    pub fn with_corrupt(mut self, probability: f64) -> Impairment {
        self.corrupt = probability;
        self
    }

    /// Set the PRNG seed.
    pub fn with_seed(mut self, seed: u64) -> Impairment {
        self.seed = seed;
        self
    }

    /// True when frames pass unchanged and at once.
    pub fn is_perfect(&self) -> bool {
        self.rate.is_none()
            && self.delay.is_zero()
            && self.loss <= 0.0
            && self.duplicate <= 0.0
            && self.reorder <= 0.0
            && self.corrupt <= 0.0
    }
}

/// SplitMix64: tiny, fast, good enough for simulation decisions.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (draws only when 0 < p < 1, so a disabled
    /// impairment does not shift the sequence of the others).
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.next_f64() < p
        }
    }

    /// Uniform in [0, n) (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Counters of one impaired direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipeStats {
    /// Frames pushed in.
    pub offered: u64,
    /// Frames dropped by the loss probability ([`LossMode::OnAir`]: after
    /// they took their airtime; a lost frame that finds the queue full counts
    /// as queue-dropped instead).
    pub lost: u64,
    /// Frames dropped because the queue was full.
    pub queue_dropped: u64,
    /// Extra copies scheduled.
    pub duplicated: u64,
    /// Frames held back.
    pub reordered: u64,
    /// Frames with a flipped bit.
    pub corrupted: u64,
    /// Frames handed to the receiving side.
    pub delivered: u64,
    /// Bytes handed to the receiving side.
    pub delivered_bytes: u64,
}

struct Scheduled {
    at: Instant,
    order: u64,
    bytes: Vec<u8>,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.order == other.order
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.at.cmp(&self.at).then(other.order.cmp(&self.order))
    }
}

struct PipeState {
    rng: SplitMix64,
    busy_until: Instant,
    queue: BinaryHeap<Scheduled>,
    order: u64,
    stats: PipeStats,
    stopped: bool,
}

struct PipeShared {
    impairment: Impairment,
    state: Mutex<PipeState>,
    wake: Condvar,
}

/// Called with each frame (or datagram) an [`ImpairedPipe`] delivers.
pub type Deliver = Box<dyn FnMut(&[u8]) + Send>;

/// One impaired direction: frames pushed in come out of `deliver` (on the
/// pipe's own thread) after the configured rate, delay and mishaps.
pub struct ImpairedPipe {
    shared: Arc<PipeShared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ImpairedPipe {
    /// Start a pipe with its delivery thread.
    pub fn new(impairment: Impairment, deliver: Deliver) -> FtpOutcome<ImpairedPipe> {
        let shared = Arc::new(PipeShared {
            state: Mutex::new(PipeState {
                rng: SplitMix64::new(impairment.seed),
                busy_until: Instant::now(),
                queue: BinaryHeap::new(),
                order: 0,
                stats: PipeStats::default(),
                stopped: false,
            }),
            impairment,
            wake: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("mavftp-sim".into())
            .spawn(move || run_pipe(&worker, deliver))
            .map_err(|e| FtpError::io("cannot start simulator thread", &e))?;
        Ok(ImpairedPipe {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The pipe's configuration.
    pub fn impairment(&self) -> &Impairment {
        &self.shared.impairment
    }

    /// Counters so far.
    pub fn stats(&self) -> PipeStats {
        self.shared.state.lock().stats
    }

    /// Offer one frame. Never blocks for long.
    pub fn push(&self, frame: &[u8]) {
        let imp = &self.shared.impairment;
        let now = Instant::now();
        let mut st = self.shared.state.lock();
        if st.stopped {
            return;
        }
        st.stats.offered += 1;
        // Drawn first in both modes, so a seed loses the same frames in each.
        let lost = st.rng.chance(imp.loss);
        if lost && imp.loss_mode == LossMode::BeforeLink {
            st.stats.lost += 1;
            return;
        }
        let departure = match imp.rate {
            None => now,
            Some(rate) => {
                let start = st.busy_until.max(now);
                let backlog = start - now;
                let full = match imp.queue_limit {
                    QueueLimit::Unlimited => false,
                    QueueLimit::Bytes(limit) => {
                        backlog.as_secs_f64() * rate as f64 + frame.len() as f64 > limit as f64
                    }
                    QueueLimit::Time(limit) => backlog > limit,
                };
                if full {
                    st.stats.queue_dropped += 1;
                    return;
                }
                st.busy_until = start + Duration::from_secs_f64(frame.len() as f64 / rate as f64);
                st.busy_until
            }
        };
        if lost {
            // On the air: it kept the link busy until `departure`; nobody hears it.
            st.stats.lost += 1;
            return;
        }
        let mut at = departure + imp.delay;
        if st.rng.chance(imp.reorder) {
            st.stats.reordered += 1;
            at += imp.reorder_hold;
        }
        let mut bytes = frame.to_vec();
        if !bytes.is_empty() && st.rng.chance(imp.corrupt) {
            st.stats.corrupted += 1;
            let bit = st.rng.below(bytes.len() as u64 * 8);
            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        // Decided before the duplicate is queued: the copy shares `at`.
        let earliest = st.queue.peek().is_none_or(|top| at < top.at);
        if st.rng.chance(imp.duplicate) {
            st.stats.duplicated += 1;
            let copy = bytes.clone();
            schedule(&mut st, at, copy);
        }
        schedule(&mut st, at, bytes);
        drop(st);
        if earliest {
            self.shared.wake.notify_one();
        }
    }

    /// Stop the delivery thread; frames still queued are discarded.
    pub fn stop(&self) {
        self.shared.state.lock().stopped = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.lock().take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

impl Drop for ImpairedPipe {
    fn drop(&mut self) {
        self.stop();
    }
}

fn schedule(st: &mut PipeState, at: Instant, bytes: Vec<u8>) {
    let order = st.order;
    st.order += 1;
    st.queue.push(Scheduled { at, order, bytes });
}

fn run_pipe(shared: &PipeShared, mut deliver: Deliver) {
    let mut ready: Vec<Vec<u8>> = Vec::new();
    let mut st = shared.state.lock();
    loop {
        if st.stopped {
            return;
        }
        let now = Instant::now();
        match st.queue.peek().map(|top| top.at) {
            None => {
                shared.wake.wait(&mut st);
            }
            Some(at) if at > now => {
                shared.wake.wait_until(&mut st, at);
            }
            Some(_) => {
                while st.queue.peek().is_some_and(|top| top.at <= now) {
                    if let Some(item) = st.queue.pop() {
                        st.stats.delivered += 1;
                        st.stats.delivered_bytes += item.bytes.len() as u64;
                        ready.push(item.bytes);
                    }
                }
                drop(st);
                for bytes in ready.drain(..) {
                    // A panicking receiver must not kill the pipe silently.
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| deliver(&bytes)));
                }
                st = shared.state.lock();
            }
        }
    }
}

/// The receiving end of one direction of a pair; set once both links exist.
/// Frames sent before that (the first heartbeats) are kept and delivered then.
struct PeerSlot {
    peer: OnceLock<Weak<LinkCore>>,
    pending: Mutex<Vec<Vec<u8>>>,
}

impl PeerSlot {
    fn new() -> Arc<PeerSlot> {
        Arc::new(PeerSlot {
            peer: OnceLock::new(),
            pending: Mutex::new(Vec::new()),
        })
    }

    fn deliver(&self, bytes: &[u8]) {
        if let Some(peer) = self.peer.get() {
            if let Some(core) = peer.upgrade() {
                let _ = core.feed(bytes);
            }
            return;
        }
        let mut pending = self.pending.lock();
        match self.peer.get() {
            None => pending.push(bytes.to_vec()),
            Some(_) => {
                drop(pending);
                self.deliver(bytes);
            }
        }
    }

    fn connect(&self, peer: &Arc<LinkCore>) {
        let mut pending = self.pending.lock();
        let _ = self.peer.set(Arc::downgrade(peer));
        for bytes in pending.drain(..) {
            let _ = peer.feed(&bytes);
        }
    }
}

/// The outgoing side of one simulated link.
enum SimOut {
    Immediate(Arc<PeerSlot>),
    Impaired(ImpairedPipe),
}

struct SimTransport(SimOut);

impl Transport for SimTransport {
    fn write_frame(&self, frame: &[u8]) -> FtpOutcome<()> {
        match &self.0 {
            SimOut::Immediate(slot) => slot.deliver(frame),
            SimOut::Impaired(pipe) => pipe.push(frame),
        }
        Ok(())
    }

    fn shutdown(&self) {
        if let SimOut::Impaired(pipe) = &self.0 {
            pipe.stop();
        }
    }
}

fn sim_out(impairment: Impairment, slot: &Arc<PeerSlot>) -> FtpOutcome<SimOut> {
    if impairment.is_perfect() {
        return Ok(SimOut::Immediate(Arc::clone(slot)));
    }
    let slot = Arc::clone(slot);
    let pipe = ImpairedPipe::new(impairment, Box::new(move |bytes| slot.deliver(bytes)))?;
    Ok(SimOut::Impaired(pipe))
}

/// Two links connected in-process: what A sends arrives at B through
/// `a_to_b`, and the other way round. Own ids 0 mean the defaults. Both ends
/// run heartbeats like any link; each end's `byte_rate()` is the rate of its
/// outgoing direction.
pub fn try_link_pair(
    a_ids: (u8, u8),
    b_ids: (u8, u8),
    a_to_b: Impairment,
    b_to_a: Impairment,
) -> FtpOutcome<(Link, Link)> {
    let to_b = PeerSlot::new();
    let to_a = PeerSlot::new();
    let (a_sys, a_comp) = super::effective_ids(a_ids.0, a_ids.1);
    let (b_sys, b_comp) = super::effective_ids(b_ids.0, b_ids.1);
    let a_rate = a_to_b.rate;
    let b_rate = b_to_a.rate;
    let a_core = LinkCore::new(
        a_sys,
        a_comp,
        a_rate,
        Box::new(SimTransport(sim_out(a_to_b, &to_b)?)),
    );
    let b_core = LinkCore::new(
        b_sys,
        b_comp,
        b_rate,
        Box::new(SimTransport(sim_out(b_to_a, &to_a)?)),
    );
    let a = Link::from_core(Arc::clone(&a_core));
    let b = Link::from_core(Arc::clone(&b_core));
    a_core.start_heartbeat()?;
    b_core.start_heartbeat()?;
    to_b.connect(&b_core);
    to_a.connect(&a_core);
    Ok((a, b))
}

/// [`try_link_pair`] for tests and examples.
///
/// # Panics
/// When a thread cannot be started.
pub fn link_pair(
    a_ids: (u8, u8),
    b_ids: (u8, u8),
    a_to_b: Impairment,
    b_to_a: Impairment,
) -> (Link, Link) {
    match try_link_pair(a_ids, b_ids, a_to_b, b_to_a) {
        Ok(pair) => pair,
        Err(e) => panic!("link_pair: {e}"),
    }
}

/// A running UDP relay with an impaired pipe in each direction (see
/// [`UdpProxy::start`]). Dropping it stops the relay.
pub struct UdpProxy {
    listen_addr: std::net::SocketAddr,
    up: Arc<ImpairedPipe>,
    down: Arc<ImpairedPipe>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpProxy {
    /// Relay datagrams between clients that send to `listen` and a server at
    /// `forward`. Datagrams from a client go through `up` to the server;
    /// the server's datagrams go through `down` to the client heard last.
    /// Each datagram is one frame for the impairments.
    pub fn start(
        listen: std::net::SocketAddr,
        forward: std::net::SocketAddr,
        up: Impairment,
        down: Impairment,
    ) -> FtpOutcome<UdpProxy> {
        use std::net::{SocketAddr, UdpSocket};
        use std::sync::atomic::{AtomicBool, Ordering};
        let poll = Some(Duration::from_millis(100));
        let bind = |addr: SocketAddr| -> FtpOutcome<UdpSocket> {
            let socket = UdpSocket::bind(addr)
                .map_err(|e| FtpError::io(format!("cannot bind UDP {addr}"), &e))?;
            socket
                .set_read_timeout(poll)
                .map_err(|e| FtpError::io("cannot set UDP read timeout", &e))?;
            super::transport::grow_receive_buffer(&socket);
            Ok(socket)
        };
        let client_side = Arc::new(bind(listen)?);
        let any: SocketAddr = if forward.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let server_side = Arc::new(bind(any)?);
        let listen_addr = client_side
            .local_addr()
            .map_err(|e| FtpError::io("cannot read the local address", &e))?;
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();

        let to_server = Arc::clone(&server_side);
        let up = Arc::new(ImpairedPipe::new(
            up,
            Box::new(move |bytes: &[u8]| {
                let _ = to_server.send_to(bytes, forward);
            }),
        )?);
        let to_client = Arc::clone(&client_side);
        let client_addr = Arc::clone(&client);
        let down = Arc::new(ImpairedPipe::new(
            down,
            Box::new(move |bytes: &[u8]| {
                if let Some(addr) = *client_addr.lock() {
                    let _ = to_client.send_to(bytes, addr);
                }
            }),
        )?);

        let stop = Arc::new(AtomicBool::new(false));
        let relay = |name: &str,
                     socket: Arc<UdpSocket>,
                     pipe: Arc<ImpairedPipe>,
                     learn: Option<Arc<Mutex<Option<SocketAddr>>>>,
                     stop: Arc<AtomicBool>|
         -> FtpOutcome<JoinHandle<()>> {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    let mut buf = vec![0u8; 65_536];
                    while !stop.load(Ordering::Relaxed) {
                        if let Ok((n, from)) = socket.recv_from(&mut buf) {
                            if let Some(learn) = &learn {
                                *learn.lock() = Some(from);
                            }
                            pipe.push(&buf[..n]);
                        }
                    }
                })
                .map_err(|e| FtpError::io("cannot start proxy thread", &e))
        };
        let threads = vec![
            relay(
                "mavftp-proxy-up",
                client_side,
                Arc::clone(&up),
                Some(client),
                Arc::clone(&stop),
            )?,
            relay(
                "mavftp-proxy-down",
                server_side,
                Arc::clone(&down),
                None,
                Arc::clone(&stop),
            )?,
        ];
        Ok(UdpProxy {
            listen_addr,
            up,
            down,
            stop,
            threads,
        })
    }

    /// The address clients send to (useful after binding port 0).
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        self.listen_addr
    }

    /// Counters of the client → server direction.
    pub fn up_stats(&self) -> PipeStats {
        self.up.stats()
    }

    /// Counters of the server → client direction.
    pub fn down_stats(&self) -> PipeStats {
        self.down.stats()
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        self.up.stop();
        self.down.stop();
    }
}
