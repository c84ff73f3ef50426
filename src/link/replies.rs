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
            self.gate.waiting.fetch_sub(1, Ordering::SeqCst);
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
        gate.waiting.fetch_add(1, Ordering::SeqCst);
        // Counted first, then look at the token: a reader releasing it now
        // sees us and wakes the background reader (see `ReadGate::release`).
        if !(shared_input && gate.is_free()) {
            s = self.sleep_until(s, deadline);
        }
        if s.sleeping {
            s.sleeping = false;
            gate.waiting.fetch_sub(1, Ordering::SeqCst);
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
        gate.waiting.fetch_add(1, Ordering::SeqCst);
        if gate.is_free() {
            // Nobody reads: the background reader must (we do not).
            gate.wake();
        }
        s = self.sleep_until(s, deadline);
        s.lingering = false;
        if s.sleeping {
            s.sleeping = false;
            gate.waiting.fetch_sub(1, Ordering::SeqCst);
        }
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

    /// Give the token back; wake the background reader when somebody must
    /// read now (clients waiting, or none engaged).
    pub fn release(&self) {
        self.released_at
            .store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.token.store(false, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 || self.engaged.load(Ordering::SeqCst) == 0 {
            self.wake();
        }
    }

    /// Wake the background reader to look at the state again.
    pub fn wake(&self) {
        let _guard = self.background.lock().unwrap_or_else(|e| e.into_inner());
        self.wake_background.notify_one();
    }

    /// What the background reader should do now: `Some(until)` to take the
    /// token and read until then (`until` = now: only what already
    /// arrived), `None` to sleep.
    fn background_turn(&self, now: Instant) -> Option<Instant> {
        if !self.is_free() {
            return None;
        }
        let engaged = self.engaged.load(Ordering::SeqCst);
        if engaged == 0 || self.waiting.load(Ordering::SeqCst) > 0 {
            return Some(now + Duration::from_millis(100));
        }
        let released = Duration::from_nanos(self.released_at.load(Ordering::Relaxed));
        let idle = (now - self.epoch).saturating_sub(released);
        (idle >= STALL).then_some(now)
    }

    /// The background reader's loop: read while needed (see the module
    /// doc), until `closed` says stop. `read_once` reads what arrives until
    /// the given instant (one read of the datagrams waiting at most).
    pub fn run_background(&self, closed: impl Fn() -> bool, mut read_once: impl FnMut(Instant)) {
        while !closed() {
            let now = Instant::now();
            if let Some(until) = self.background_turn(now)
                && self.try_take()
            {
                read_once(until);
                self.released_at
                    .store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
                self.token.store(false, Ordering::SeqCst);
                continue;
            }
            let guard = self.background.lock().unwrap_or_else(|e| e.into_inner());
            if self.background_turn(Instant::now()).is_some() && self.is_free() {
                continue;
            }
            let nap = if self.engaged.load(Ordering::SeqCst) > 0 {
                STALL
            } else {
                Duration::from_millis(100)
            };
            let _ = self.wake_background.wait_timeout(guard, nap);
        }
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
