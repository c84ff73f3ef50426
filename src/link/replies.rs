//! Replies for the clients of a link, and who reads the link.
//!
//! **Routing.** Every FTP reply (ACK or NAK) addressed to this link's own ids
//! is looked up once, by its sender (system, component), in a table of the
//! clients that talk to that sender ([`ReplyRoutes`]); each of them gets it
//! in its own queue. A client registers under its current target and moves
//! when the target changes. With one client per vehicle a reply reaches the
//! one client that waits for it, and no client filters another's traffic.
//! Two clients of one vehicle both get its replies (each tells its own by
//! seq; a client also watches for another's session takeover there).
//!
//! **Bounded queues.** A queue holds at most [`REPLY_QUEUE_CAPACITY`]
//! frames; when it is full the oldest frame is dropped (counted). That is
//! safe: a client that left a reply unread for that long lost it the way a
//! datagram is lost, and its window resends the request or reads the hole
//! again; the newest frames are the ones a client still waits for. An idle
//! client (no operation running) keeps at most that many stale frames.
//!
//! **Waiting and reading.** A client waits for a frame by parking on its
//! queue (a futex wait: no spinning, no `sched_yield`), woken by whoever
//! routes a frame to it. On links whose input any thread may read (UDP), a
//! waiting client that finds nobody reading reads the socket itself
//! (holding the link's read token, [`ReadGate`]): its own replies then need
//! no hand-off between threads, the hand-off that cost one wake-up per packet.
//! Frames for others that it reads are routed as usual. The link's
//! background reader reads only while nobody else needs to: when no client
//! is in an operation ("engaged"), when clients wait while nobody reads, or
//! when the token has been free for [`STALL`] (an engaged client busy
//! elsewhere, e.g. in a progress callback): so every frame is read promptly
//! whatever the clients do.
//!
//! **Pausing while every waiter lingers.** When every client that waits
//! lingers (a slow stream: see `ReplyQueue::linger`), no subscription (a
//! server, an application) needs frames at once and datagrams arrive
//! densely enough for a pause to gather two or more, the background reader
//! pauses [`READ_PAUSE`] after each read, so that the datagrams of many
//! vehicles gather in the socket and are taken with one wake-up and one
//! `recvmmsg` instead of one each. A client that waits for a prompt reply
//! reads the link itself when nobody holds the token, or ends the pause.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use super::IncomingFtp;
use super::fasthash::FastMap;

/// Most frames a client's queue holds; more drop the oldest.
pub(crate) const REPLY_QUEUE_CAPACITY: usize = 1024;
/// Frames a lingering owner lets gather before it is woken anyway.
pub(crate) const LINGER_FRAMES: usize = 16;
/// How long the read token may stay free while clients are engaged before
/// the background reader reads in their place.
pub(crate) const STALL: Duration = Duration::from_millis(20);
/// How long the background reader pauses after a read while every waiting
/// client lingers (see the module doc). A lingering client shortens its
/// wait by as much, so that a reply read this late is still taken in time.
pub(crate) const READ_PAUSE: Duration = Duration::from_millis(20);

/// A client's queue of replies.
pub(crate) struct ReplyQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
    /// The link's gate, whose count of sleepers this queue's owner joins.
    gate: Arc<ReadGate>,
}

#[derive(Default)]
struct QueueState {
    frames: VecDeque<IncomingFtp>,
    /// The owner sleeps on `ready` and is counted in [`ReadGate::waiting`].
    sleeping: bool,
    /// The owner lingers: it sleeps until its deadline while frames gather
    /// (up to [`LINGER_FRAMES`]), instead of being woken for each.
    lingering: bool,
    closed: bool,
    /// The owner was asked to look up from waiting (a cancel).
    interrupted: bool,
    /// Frames dropped because the queue was full.
    dropped: u64,
}

/// The link closed: no more frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

impl ReplyQueue {
    pub fn new(gate: Arc<ReadGate>) -> ReplyQueue {
        ReplyQueue {
            state: Mutex::new(QueueState::default()),
            ready: Condvar::new(),
            gate,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A panic while holding this lock leaves consistent data behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a frame (dropping the oldest when full) and wake the owner.
    fn push(&self, frame: IncomingFtp) {
        let mut s = self.lock();
        if s.closed {
            return;
        }
        if s.frames.len() >= REPLY_QUEUE_CAPACITY {
            s.frames.pop_front();
            s.dropped += 1;
        }
        s.frames.push_back(frame);
        if !s.lingering || s.frames.len() >= LINGER_FRAMES {
            self.wake(s);
        }
    }

    /// Wake the owner if it sleeps. It is no longer waiting for a reader
    /// from now on: the background reader does not read on its behalf.
    fn wake(&self, mut s: std::sync::MutexGuard<'_, QueueState>) {
        if s.sleeping {
            s.sleeping = false;
            self.gate.leave(s.lingering);
            drop(s);
            self.ready.notify_one();
        }
    }

    /// Make the owner's current or next wait return at once, once (it then
    /// looks at its cancel flags).
    pub fn interrupt(&self) {
        let mut s = self.lock();
        s.interrupted = true;
        self.wake(s);
    }

    /// Whether an interrupt came since the last call.
    pub fn take_interrupt(&self) -> bool {
        std::mem::take(&mut self.lock().interrupted)
    }

    /// The oldest frame, if any, and whether more are queued behind it.
    pub fn pop_more(&self) -> Result<Option<(IncomingFtp, bool)>, Closed> {
        let mut s = self.lock();
        match s.frames.pop_front() {
            Some(f) => Ok(Some((f, !s.frames.is_empty()))),
            None if s.closed => Err(Closed),
            None => Ok(None),
        }
    }

    /// Whether the owner should stop reading: a frame for it, an interrupt
    /// or the close.
    pub fn has_news(&self) -> bool {
        let s = self.lock();
        !s.frames.is_empty() || s.interrupted || s.closed
    }

    /// Drop every queued frame (and a pending interrupt).
    pub fn clear(&self) {
        let mut s = self.lock();
        s.frames.clear();
        s.interrupted = false;
    }

    /// Frames dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Sleep until a frame arrives, the queue closes, `deadline` passes, or
    /// (when `token_free` says so after we are counted as waiting) the read
    /// token is free for us to take.
    pub fn wait(&self, deadline: Instant, shared_input: bool) {
        let gate = &*self.gate;
        let mut s = self.lock();
        if !s.frames.is_empty() || s.closed || s.interrupted {
            return;
        }
        s.sleeping = true;
        s.lingering = false;
        gate.join(false);
        // Counted first, then look at the token: a reader releasing it now
        // sees us and wakes the background reader (see `ReadGate::release`).
        if !(shared_input && gate.is_free()) {
            s = self.sleep_until(s, deadline);
        }
        if s.sleeping {
            s.sleeping = false;
            gate.leave(false);
        }
    }

    /// Sleep (marked `sleeping`) until woken, closed or `deadline`.
    fn sleep_until<'a>(
        &'a self,
        mut s: std::sync::MutexGuard<'a, QueueState>,
        deadline: Instant,
    ) -> std::sync::MutexGuard<'a, QueueState> {
        while s.sleeping && !s.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            s = self
                .ready
                .wait_timeout(s, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        s
    }

    /// Sleep until `deadline` while frames gather (woken early only by
    /// [`LINGER_FRAMES`] of them, an interrupt or the close): one wake-up
    /// for several frames of a slow stream that needs no prompt answer.
    /// Whoever reads the link reads for us meanwhile (we count as waiting).
    pub fn linger(&self, deadline: Instant) {
        let gate = &*self.gate;
        let mut s = self.lock();
        if s.frames.len() >= LINGER_FRAMES || s.closed || s.interrupted {
            return;
        }
        s.sleeping = true;
        s.lingering = true;
        gate.join(true);
        if gate.is_free() && !gate.pausing.load(Ordering::SeqCst) {
            // Nobody reads: the background reader must (we do not). A
            // pausing reader reads for us when its pause ends.
            gate.wake();
        }
        s = self.sleep_until(s, deadline);
        if s.sleeping {
            s.sleeping = false;
            gate.leave(true);
        }
        s.lingering = false;
    }

    /// No more frames: wake the owner.
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        self.wake(s);
    }
}

/// The queues listening to each (system, component).
type RouteTable = FastMap<(u8, u8), Vec<Arc<ReplyQueue>>>;

/// The clients of a link by the (system, component) they listen to.
#[derive(Default)]
pub(crate) struct ReplyRoutes {
    table: RwLock<RouteTable>,
}

impl ReplyRoutes {
    /// Hand `frame` to every queue listening to its sender; false if none does.
    pub fn route(&self, frame: IncomingFtp) -> bool {
        let table = self.table.read();
        let Some(queues) = table.get(&(frame.source_system, frame.source_component)) else {
            return false;
        };
        if let Some((last, others)) = queues.split_last() {
            for q in others {
                q.push(frame.clone());
            }
            last.push(frame);
        }
        true
    }

    /// Move `queue` from listening to `from` to listening to `to`.
    pub fn relisten(&self, queue: &Arc<ReplyQueue>, from: Option<(u8, u8)>, to: Option<(u8, u8)>) {
        let mut table = self.table.write();
        if let Some(key) = from
            && let Some(list) = table.get_mut(&key)
        {
            list.retain(|q| !Arc::ptr_eq(q, queue));
            if list.is_empty() {
                table.remove(&key);
            }
        }
        if let Some(key) = to {
            table.entry(key).or_default().push(Arc::clone(queue));
        }
    }

    /// Close every queue (the link closed).
    pub fn close_all(&self) {
        let queues: Vec<Arc<ReplyQueue>> = self.table.read().values().flatten().cloned().collect();
        for q in queues {
            q.close();
        }
    }
}

/// Who reads a link whose input any thread may read (see the module doc).
pub(crate) struct ReadGate {
    /// Held by the thread reading the input.
    token: AtomicBool,
    /// Clients in an operation: they read for themselves when they wait.
    pub engaged: AtomicUsize,
    /// Clients asleep on their queues.
    pub waiting: AtomicUsize,
    /// Those of them that wait for a prompt reply (they do not linger).
    prompt: AtomicUsize,
    /// The background reader pauses while every waiting client lingers.
    pausing: AtomicBool,
    /// Subscriptions on the link (servers, applications): they need every
    /// frame at once, so the background reader never pauses while any is.
    pub subscribers: AtomicUsize,
    /// When the token was last released (nanoseconds since `epoch`).
    released_at: AtomicU64,
    epoch: Instant,
    background: Mutex<()>,
    wake_background: Condvar,
}

impl ReadGate {
    pub fn new() -> ReadGate {
        ReadGate {
            token: AtomicBool::new(false),
            engaged: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            prompt: AtomicUsize::new(0),
            pausing: AtomicBool::new(false),
            subscribers: AtomicUsize::new(0),
            released_at: AtomicU64::new(0),
            epoch: Instant::now(),
            background: Mutex::new(()),
            wake_background: Condvar::new(),
        }
    }

    /// Take the read token if nobody holds it.
    pub fn try_take(&self) -> bool {
        self.token
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    fn is_free(&self) -> bool {
        !self.token.load(Ordering::SeqCst)
    }

    /// A client goes to sleep on its queue (lingering or not).
    fn join(&self, lingering: bool) {
        if !lingering {
            self.prompt.fetch_add(1, Ordering::SeqCst);
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
    }

    /// A client stops sleeping on its queue.
    fn leave(&self, lingering: bool) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if !lingering {
            self.prompt.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Give the token back; wake the background reader when somebody must
    /// read now (clients waiting, or none engaged).
    pub fn release(&self) {
        self.released_at
            .store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.token.store(false, Ordering::SeqCst);
        // A pausing reader reads for lingering clients when its pause ends.
        let lingerers_only =
            self.pausing.load(Ordering::SeqCst) && self.prompt.load(Ordering::SeqCst) == 0;
        if (self.waiting.load(Ordering::SeqCst) > 0 && !lingerers_only)
            || self.engaged.load(Ordering::SeqCst) == 0
        {
            self.wake();
        }
    }

    /// Wake the background reader to look at the state again.
    pub fn wake(&self) {
        let _guard = self.background.lock().unwrap_or_else(|e| e.into_inner());
        self.wake_background.notify_one();
    }

    /// What the background reader should do now (see [`Turn`]).
    fn background_turn(&self, now: Instant, dense: bool) -> Turn {
        if !self.is_free() {
            return Turn::Sleep;
        }
        let released = Duration::from_nanos(self.released_at.load(Ordering::Relaxed));
        let idle = (now - self.epoch).saturating_sub(released);
        let engaged = self.engaged.load(Ordering::SeqCst);
        // Prompt waiters first: one joining after this load reads for itself
        // (the token is free) or, finding it taken, is seen on its release.
        let prompt = self.prompt.load(Ordering::SeqCst);
        let waiting = self.waiting.load(Ordering::SeqCst);
        let subscribers = self.subscribers.load(Ordering::SeqCst);
        let pause_ok = dense && prompt == 0 && subscribers == 0;
        reader_turn(engaged, waiting, pause_ok, idle, now)
    }

    /// The background reader's loop: read while needed (see the module
    /// doc), until `closed` says stop. `read_once` reads what arrives until
    /// the given instant (one read of the datagrams waiting at most).
    pub fn run_background(
        &self,
        closed: impl Fn() -> bool,
        mut read_once: impl FnMut(Instant) -> usize,
    ) {
        // When the last read ended, and whether datagrams arrive densely
        // enough for a pause to gather several (see `dense_arrivals`).
        let mut last_read = Instant::now();
        let mut dense = false;
        while !closed() {
            let now = Instant::now();
            if let Turn::Read(until) = self.background_turn(now, dense)
                && self.try_take()
            {
                let datagrams = read_once(until);
                let end = Instant::now();
                dense = dense_arrivals(datagrams, end - last_read);
                last_read = end;
                self.released_at
                    .store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
                self.token.store(false, Ordering::SeqCst);
                continue;
            }
            let guard = self.background.lock().unwrap_or_else(|e| e.into_inner());
            let turn = self.background_turn(Instant::now(), dense);
            let nap = match turn {
                Turn::Read(_) => continue,
                Turn::Pause(nap) => nap,
                Turn::Sleep if self.engaged.load(Ordering::SeqCst) > 0 => STALL,
                Turn::Sleep => Duration::from_millis(100),
            };
            // Lingering clients and releases need not wake a pausing reader.
            let pausing = matches!(turn, Turn::Pause(_));
            self.pausing.store(pausing, Ordering::SeqCst);
            let _ = self.wake_background.wait_timeout(guard, nap);
            self.pausing.store(false, Ordering::SeqCst);
        }
    }
}

/// Whether `datagrams` read over `span` (since the previous read ended)
/// come densely enough that a [`READ_PAUSE`] would gather at least two:
/// else a pause only adds a wake-up (one slow client's replies, 46 ms
/// apart on a 5760 B/s radio, are read as they come).
fn dense_arrivals(datagrams: usize, span: Duration) -> bool {
    datagrams as u128 * READ_PAUSE.as_nanos() >= 2 * span.as_nanos()
}

/// What the background reader does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// Take the token and read until then (now: only what already arrived).
    Read(Instant),
    /// Pause this long: every waiting client lingers (see the module doc).
    Pause(Duration),
    /// Sleep until woken (or a short nap): nobody needs the reader now.
    Sleep,
}

/// The background reader's turn with the read token free: `engaged`
/// clients in an operation, `waiting` of them asleep on their queues; with
/// `pause_ok` none of those waits for a prompt reply, no subscription
/// listens and datagrams arrive densely; the token free for `idle`.
fn reader_turn(
    engaged: usize,
    waiting: usize,
    pause_ok: bool,
    idle: Duration,
    now: Instant,
) -> Turn {
    let block = now + Duration::from_millis(100);
    if engaged == 0 {
        return Turn::Read(block);
    }
    if waiting > 0 {
        if pause_ok && idle < READ_PAUSE {
            return Turn::Pause(READ_PAUSE - idle);
        }
        return Turn::Read(block);
    }
    if idle >= STALL {
        Turn::Read(now)
    } else {
        Turn::Sleep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Route;
    use crate::protocol::{FtpPacket, Opcode};

    fn frame(seq: u16) -> IncomingFtp {
        IncomingFtp {
            route: Route::LOCAL,
            source_system: 1,
            source_component: 1,
            target_system: 245,
            target_component: 190,
            packet: FtpPacket::request(Opcode::Ack, seq),
            received_at: Instant::now(),
            invalid_size: None,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// While every waiting client lingers and nothing else listens, the
    /// background reader pauses READ_PAUSE after each read; it reads at
    /// once (blocking for the first datagram) in every other case.
    #[test]
    fn the_reader_pauses_only_while_every_waiting_client_lingers() {
        let now = Instant::now();
        let block = Turn::Read(now + ms(100));
        // (engaged, waiting, pause_ok, idle)
        assert_eq!(reader_turn(3, 3, true, ms(5), now), Turn::Pause(ms(15)));
        assert_eq!(reader_turn(3, 1, true, ms(0), now), Turn::Pause(READ_PAUSE));
        // The pause is over: read what gathered (and wait for the next).
        assert_eq!(reader_turn(3, 3, true, READ_PAUSE, now), block);
        // A client waiting for a prompt reply, a server on the link, or
        // sparse datagrams.
        assert_eq!(reader_turn(3, 3, false, ms(5), now), block);
        // Nobody engaged: the reader reads for everyone, always.
        assert_eq!(reader_turn(0, 0, true, ms(5), now), block);
        assert_eq!(reader_turn(0, 0, false, ms(5), now), block);
        // Engaged clients, none waiting: read only after the token stayed
        // free for STALL (a client busy elsewhere).
        assert_eq!(reader_turn(2, 0, true, ms(5), now), Turn::Sleep);
        assert_eq!(reader_turn(2, 0, true, STALL, now), Turn::Read(now));
    }

    /// A pause is worth it when it gathers two datagrams or more.
    #[test]
    fn datagrams_are_dense_when_a_pause_would_gather_two() {
        // 20 vehicles at 5760 B/s: ~430 a second, 9 gathered in a pause.
        assert!(dense_arrivals(9, ms(21)));
        assert!(dense_arrivals(1, ms(2)));
        // One vehicle: one datagram every 46 ms.
        assert!(!dense_arrivals(1, ms(46)));
        assert!(!dense_arrivals(1, ms(21)));
        assert!(!dense_arrivals(0, ms(1)));
        assert!(dense_arrivals(2, READ_PAUSE));
    }

    /// With one engaged client lingering, the background reader reads
    /// (here each read returns at once, as if a datagram had arrived) at
    /// most once per READ_PAUSE, not in a loop.
    #[test]
    fn a_background_reader_pauses_between_reads_while_its_client_lingers() {
        let gate = Arc::new(ReadGate::new());
        gate.engaged.fetch_add(1, Ordering::SeqCst);
        let queue = Arc::new(ReplyQueue::new(Arc::clone(&gate)));
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicUsize::new(0));
        let reader = {
            let (gate, stop, reads) = (Arc::clone(&gate), Arc::clone(&stop), Arc::clone(&reads));
            std::thread::spawn(move || {
                gate.run_background(
                    || stop.load(Ordering::SeqCst),
                    |_| {
                        // Every read finds several datagrams (a fleet).
                        reads.fetch_add(1, Ordering::SeqCst);
                        8
                    },
                )
            })
        };
        let start = Instant::now();
        queue.linger(start + ms(300));
        let lingered = start.elapsed();
        let n = reads.load(Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        gate.wake();
        reader.join().unwrap();
        let most = (lingered.as_millis() / READ_PAUSE.as_millis()) as usize + 2;
        assert!(n >= 1 && n <= most, "{n} reads in {lingered:?}");
    }

    /// A lingering owner counts as waiting but not as waiting for a prompt
    /// reply; a plain wait counts as both; both are uncounted once woken.
    #[test]
    fn lingering_and_plain_waits_are_counted_apart() {
        let gate = Arc::new(ReadGate::new());
        // Someone holds the token, so the plain wait sleeps instead of
        // returning to read.
        assert!(gate.try_take());
        let lingerer = Arc::new(ReplyQueue::new(Arc::clone(&gate)));
        let waiter = Arc::new(ReplyQueue::new(Arc::clone(&gate)));
        let threads: Vec<_> = [(Arc::clone(&lingerer), true), (Arc::clone(&waiter), false)]
            .into_iter()
            .map(|(q, linger)| {
                std::thread::spawn(move || {
                    let until = Instant::now() + Duration::from_secs(10);
                    if linger {
                        q.linger(until)
                    } else {
                        q.wait(until, true)
                    }
                })
            })
            .collect();
        let t = Instant::now();
        while gate.waiting.load(Ordering::SeqCst) < 2 {
            assert!(t.elapsed() < Duration::from_secs(5), "never asleep");
            std::thread::sleep(ms(1));
        }
        assert_eq!(gate.prompt.load(Ordering::SeqCst), 1);
        // One frame wakes the plain waiter, not the lingerer.
        waiter.push(frame(1));
        lingerer.push(frame(2));
        let t = Instant::now();
        while gate.prompt.load(Ordering::SeqCst) > 0 {
            assert!(t.elapsed() < Duration::from_secs(5), "waiter not woken");
            std::thread::sleep(ms(1));
        }
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 1);
        lingerer.interrupt();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        assert_eq!(gate.prompt.load(Ordering::SeqCst), 0);
    }

    /// A lingering owner is not woken for each frame: it wakes at its
    /// deadline with every frame queued, or early once LINGER_FRAMES gathered.
    #[test]
    fn a_lingering_owner_takes_several_frames_with_one_wake_up() {
        let queue = Arc::new(ReplyQueue::new(Arc::new(ReadGate::new())));
        let pusher = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                for seq in 0..3 {
                    std::thread::sleep(Duration::from_millis(20));
                    queue.push(frame(seq));
                }
            })
        };
        let start = Instant::now();
        queue.linger(start + Duration::from_millis(300));
        assert!(start.elapsed() >= Duration::from_millis(290), "woken early");
        pusher.join().unwrap();
        for seq in 0..3 {
            assert_eq!(queue.pop_more().unwrap().unwrap().0.packet.seq, seq);
        }
        // LINGER_FRAMES frames end the wait early; so does the close.
        let pusher = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                for seq in 0..LINGER_FRAMES as u16 {
                    queue.push(frame(seq));
                }
            })
        };
        let start = Instant::now();
        queue.linger(start + Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(5));
        pusher.join().unwrap();
        while queue.pop_more().unwrap().is_some() {}
        let closer = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                queue.close();
            })
        };
        let start = Instant::now();
        queue.linger(start + Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(5));
        closer.join().unwrap();
        // A plain wait is woken by the first frame.
        let queue = Arc::new(ReplyQueue::new(Arc::new(ReadGate::new())));
        let pusher = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                queue.push(frame(7));
            })
        };
        let start = Instant::now();
        queue.wait(start + Duration::from_secs(10), false);
        assert!(start.elapsed() < Duration::from_secs(5));
        pusher.join().unwrap();
    }
}
