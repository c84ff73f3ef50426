//! The server's table of peers and the fair scheduler that hands them to the
//! threads that do the work.
//!
//! Every peer — (route, system id, component id) — has its own state (open
//! sessions, reply cache, listing snapshot, burst rate, work in progress)
//! and its own inbox of requests, handled strictly in arrival order. A peer
//! with requests waiting is *ready*; ready peers are served round-robin by
//! route first and by peer within a route, one bounded turn each (see
//! [`TURN_REQUESTS`], [`TURN_TIME`]), so a route that floods — with one id or
//! thousands — gets one turn per round like every other route.
//!
//! Bounds: at most [`INBOX_LIMIT`] requests wait per peer (more are dropped
//! like datagrams a full socket drops; the client resends), at most
//! [`MAX_PEERS_PER_ROUTE`] peers are known per route and [`MAX_PEERS`] in
//! all. A new peer replaces the least recently heard idle peer (no session,
//! no work) of its own route when that route is full, else of the route
//! with the most peers; when no peer is idle, the least recently heard peer
//! of the route with the most peers is dropped (with its sessions and work)
//! if that route has more peers than the newcomer's. So a sender cycling
//! through ids pushes out its own entries, never those of a quieter route.
//! A peer silent for the session idle timeout loses its unfinished work
//! (nobody waits for it any more) and, with nothing open, is forgotten.

use std::collections::VecDeque;

use crate::link::fasthash::FastMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::link::Route;
use crate::protocol::{FtpPacket, ListingEntry};

use super::burst::FlowRate;
use super::reply_cache::ReplyCache;
use super::sessions::{Peer, PeerSessions, Quota};
use super::work::Pending;

/// Most peers known at once.
pub const MAX_PEERS: usize = 256;
/// Most peers known on one route.
pub const MAX_PEERS_PER_ROUTE: usize = 64;
/// Most requests waiting per peer.
pub const INBOX_LIMIT: usize = 64;
/// Most requests one turn handles before the next peer's turn.
pub const TURN_REQUESTS: usize = 32;
/// Longest a turn goes on starting new requests (a step of long work such as
/// a CRC is bounded by this as well).
pub const TURN_TIME: Duration = Duration::from_millis(4);
/// A listing snapshot serves continuation requests (offset > 0) this long.
pub const LISTING_TTL: Duration = Duration::from_secs(5);

/// One request, as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// Who asked.
    pub peer: Peer,
    /// The packet (header only when `invalid_size` is set).
    pub packet: FtpPacket,
    /// Set when the size field was 240–255.
    pub invalid_size: Option<u8>,
}

/// The sorted entries of a directory, taken when a listing starts at offset 0,
/// so that its continuation requests page through one consistent list.
#[derive(Debug)]
pub struct ListingSnapshot {
    /// The directory (resolved inside the jail).
    pub path: PathBuf,
    /// Identity and modification of the directory when it was read.
    pub key: super::work::FileKey,
    /// The entries, sorted by name bytes.
    pub entries: Vec<ListingEntry>,
    /// When it was taken.
    pub at: Instant,
}

/// Everything the server keeps about one peer.
#[derive(Debug)]
pub struct PeerState {
    /// Its open sessions.
    pub sessions: PeerSessions,
    /// Its recent replies.
    pub cache: ReplyCache,
    /// Its adaptive burst rate.
    pub flow: Arc<FlowRate>,
    /// The request being worked on over several steps.
    pub pending: Option<Pending>,
    /// The last directory listed from offset 0.
    pub listing: Option<ListingSnapshot>,
}

impl PeerState {
    fn new(route: Route, quota: Arc<Mutex<Quota>>, epoch: Instant) -> PeerState {
        PeerState {
            sessions: PeerSessions::new(route, quota, epoch),
            cache: ReplyCache::new(),
            flow: Arc::new(FlowRate::new()),
            pending: None,
            listing: None,
        }
    }

    /// Nothing to keep: no session, no work, no snapshot.
    fn is_idle(&self) -> bool {
        self.sessions.is_empty() && self.pending.is_none()
    }
}

#[derive(Debug)]
struct Slot {
    inbox: VecDeque<Request>,
    /// None while a thread works on the peer.
    state: Option<Box<PeerState>>,
    /// In the ready queue.
    queued: bool,
    last_seen: Instant,
    /// The peer's burst rate (also in its state), readable while it is busy.
    flow: Arc<FlowRate>,
}

impl Slot {
    fn evictable(&self) -> bool {
        !self.queued && self.inbox.is_empty() && self.state.as_ref().is_some_and(|s| s.is_idle())
    }
}

/// Who may handle a request that arrives for an idle peer (no request
/// waiting, no work in progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// The workers.
    Queue,
    /// The caller, at once (a cheap request).
    Now,
    /// The caller, at the end of the read it came in: the request waits in
    /// the inbox with those of the same read that follow it (a run of
    /// writes, `writes.rs`).
    EndOfRead,
}

/// What [`Scheduler::arrive`] did with a request.
pub enum Arrival {
    /// The peer is idle and the request may be handled at once by the caller
    /// (it holds the peer's state until [`Scheduler::check_in`]).
    Now(Request, Box<PeerState>),
    /// The peer is idle: the request is in its inbox, and the caller holds
    /// the peer's state until [`Scheduler::check_in`] to handle it (and
    /// those that follow it) at the end of its read ([`Intake::EndOfRead`]).
    EndOfRead(Box<PeerState>),
    /// Queued; true when a worker should be woken.
    Queued(bool),
    /// Dropped (inbox full or no room for a new peer).
    Dropped,
}

/// Counters for tests and diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerCounts {
    /// Peers known.
    pub peers: usize,
    /// Requests waiting.
    pub queued_requests: usize,
    /// Peers with work in progress over several steps.
    pub pending_jobs: usize,
    /// Entries held in listing snapshots (peers not being worked on).
    pub listing_entries: usize,
    /// Requests dropped because an inbox was full or no peer slot was free.
    pub dropped: u64,
}

/// The peer table and the ready queue.
pub struct Scheduler {
    slots: FastMap<Peer, Slot>,
    slots_per_route: FastMap<Route, usize>,
    ready_routes: VecDeque<Route>,
    ready: FastMap<Route, VecDeque<Peer>>,
    quota: Arc<Mutex<Quota>>,
    epoch: Instant,
    dropped: u64,
    /// Set when the server stops: workers exit.
    pub stopping: bool,
}

impl Scheduler {
    /// An empty table whose peers share `quota`.
    pub fn new(quota: Arc<Mutex<Quota>>) -> Scheduler {
        Scheduler {
            slots: FastMap::default(),
            slots_per_route: FastMap::default(),
            ready_routes: VecDeque::new(),
            ready: FastMap::default(),
            quota,
            epoch: Instant::now(),
            dropped: 0,
            stopping: false,
        }
    }

    /// A request arrived; `intake` says who handles it when the peer is idle.
    pub fn arrive(&mut self, req: Request, intake: Intake) -> Arrival {
        let peer = req.peer;
        let now = Instant::now();
        if !self.slots.contains_key(&peer) {
            if !self.make_room(peer.0) {
                self.dropped += 1;
                return Arrival::Dropped;
            }
            let state = Box::new(PeerState::new(peer.0, Arc::clone(&self.quota), self.epoch));
            let flow = Arc::clone(&state.flow);
            self.slots.insert(
                peer,
                Slot {
                    inbox: VecDeque::new(),
                    state: Some(state),
                    queued: false,
                    last_seen: now,
                    flow,
                },
            );
            *self.slots_per_route.entry(peer.0).or_default() += 1;
        }
        let Some(slot) = self.slots.get_mut(&peer) else {
            return Arrival::Dropped;
        };
        slot.last_seen = now;
        if intake != Intake::Queue
            && slot.inbox.is_empty()
            && !slot.queued
            && let Some(state) = slot.state.take_if(|s| s.pending.is_none())
        {
            if intake == Intake::Now {
                return Arrival::Now(req, state);
            }
            slot.inbox.push_back(req);
            return Arrival::EndOfRead(state);
        }
        if slot.inbox.len() >= INBOX_LIMIT {
            self.dropped += 1;
            return Arrival::Dropped;
        }
        slot.inbox.push_back(req);
        if !slot.queued && slot.state.is_some() {
            slot.queued = true;
            self.push_ready(peer);
            return Arrival::Queued(true);
        }
        Arrival::Queued(false)
    }

    fn on_route(&self, route: Route) -> usize {
        self.slots_per_route.get(&route).copied().unwrap_or(0)
    }

    /// Make room for a new peer on `route`; false when it must be refused.
    fn make_room(&mut self, route: Route) -> bool {
        let own = self.on_route(route);
        if own >= MAX_PEERS_PER_ROUTE {
            // A full route makes room among its own peers only.
            return self.evict(|p| p.0 == route, true);
        }
        if self.slots.len() < MAX_PEERS {
            return true;
        }
        if self.evict(|_| true, false) {
            return true;
        }
        // Nobody idle: take from the route with the most peers, if it has
        // more than the newcomer's.
        let heaviest = self
            .slots_per_route
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(r, n)| (*r, *n));
        match heaviest {
            Some((r, n)) if n > own + 1 => self.evict(|p| p.0 == r, true),
            _ => false,
        }
    }

    /// Forget one peer among those `eligible`: the least recently heard idle
    /// one of the route with the most peers; with `busy_too`, else the least
    /// recently heard one that no thread is working on.
    fn evict(&mut self, eligible: impl Fn(&Peer) -> bool, busy_too: bool) -> bool {
        let idle = self
            .slots
            .iter()
            .filter(|(p, s)| eligible(p) && s.evictable())
            .max_by_key(|(p, s)| (self.on_route(p.0), std::cmp::Reverse(s.last_seen)))
            .map(|(p, _)| *p);
        let victim = idle.or_else(|| {
            busy_too
                .then(|| {
                    self.slots
                        .iter()
                        .filter(|(p, s)| eligible(p) && s.state.is_some())
                        .min_by_key(|(_, s)| s.last_seen)
                        .map(|(p, _)| *p)
                })
                .flatten()
        });
        match victim {
            Some(p) => {
                self.remove(p);
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, peer: Peer) {
        if self.slots.remove(&peer).is_some()
            && let Some(n) = self.slots_per_route.get_mut(&peer.0)
        {
            *n -= 1;
            if *n == 0 {
                self.slots_per_route.remove(&peer.0);
            }
        }
    }

    fn push_ready(&mut self, peer: Peer) {
        let queue = self.ready.entry(peer.0).or_default();
        if queue.is_empty() {
            self.ready_routes.push_back(peer.0);
        }
        queue.push_back(peer);
    }

    /// The next peer to serve (round-robin over routes, then peers), with
    /// its state, which the caller holds until [`Scheduler::check_in`].
    pub fn take_ready(&mut self) -> Option<(Peer, Box<PeerState>)> {
        while let Some(route) = self.ready_routes.pop_front() {
            let Some(queue) = self.ready.get_mut(&route) else {
                continue;
            };
            let Some(peer) = queue.pop_front() else {
                self.ready.remove(&route);
                continue;
            };
            if queue.is_empty() {
                self.ready.remove(&route);
            } else {
                self.ready_routes.push_back(route);
            }
            // An entry of a peer dropped (or already served) is stale.
            let Some(slot) = self.slots.get_mut(&peer) else {
                continue;
            };
            if !slot.queued {
                continue;
            }
            slot.queued = false;
            if let Some(state) = slot.state.take() {
                return Some((peer, state));
            }
        }
        None
    }

    /// The next request of a peer being worked on, if `ok` accepts it.
    pub fn next_request(&mut self, peer: Peer, ok: impl Fn(&Request) -> bool) -> Option<Request> {
        let inbox = &mut self.slots.get_mut(&peer)?.inbox;
        if inbox.front().is_some_and(ok) {
            inbox.pop_front()
        } else {
            None
        }
    }

    /// How long ago the peer was last heard.
    pub fn silent_for(&self, peer: Peer) -> Duration {
        self.slots
            .get(&peer)
            .map_or(Duration::MAX, |s| s.last_seen.elapsed())
    }

    /// Hand a peer's state back; true when it was queued again (more work).
    pub fn check_in(&mut self, peer: Peer, state: Box<PeerState>) -> bool {
        let Some(slot) = self.slots.get_mut(&peer) else {
            // Cannot happen (busy peers are never removed); the state drops.
            return false;
        };
        let more = !slot.inbox.is_empty() || state.pending.is_some();
        slot.state = Some(state);
        if more && !slot.queued {
            slot.queued = true;
            self.push_ready(peer);
            return true;
        }
        false
    }

    /// Close idle sessions, expire caches and snapshots, forget idle peers.
    pub fn sweep(&mut self, idle: Duration) {
        let now = Instant::now();
        let mut gone = Vec::new();
        for (peer, slot) in self.slots.iter_mut() {
            let Some(state) = slot.state.as_mut() else {
                continue;
            };
            state.sessions.sweep(idle);
            state.cache.sweep();
            if now.saturating_duration_since(slot.last_seen) >= idle {
                // Nobody waits for this answer any more.
                state.pending = None;
            }
            if state
                .listing
                .as_ref()
                .is_some_and(|l| now.saturating_duration_since(l.at) >= LISTING_TTL)
            {
                state.listing = None;
            }
            if slot.evictable() && now.saturating_duration_since(slot.last_seen) >= idle {
                gone.push(*peer);
            }
        }
        for peer in gone {
            self.remove(peer);
        }
    }

    /// Forget every peer (server stop): closes every session.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.slots_per_route.clear();
        self.ready.clear();
        self.ready_routes.clear();
    }

    /// Counters (peers being worked on count without their snapshot).
    pub fn counts(&self) -> SchedulerCounts {
        let mut c = SchedulerCounts {
            peers: self.slots.len(),
            dropped: self.dropped,
            ..SchedulerCounts::default()
        };
        for slot in self.slots.values() {
            c.queued_requests += slot.inbox.len();
            if let Some(s) = &slot.state {
                c.pending_jobs += s.pending.is_some() as usize;
                c.listing_entries += s.listing.as_ref().map_or(0, |l| l.entries.len());
            }
        }
        c
    }

    /// The adaptive burst rate of each known peer (system, component, rate).
    pub fn rates(&self) -> Vec<(u8, u8, u32)> {
        self.slots
            .iter()
            .map(|(p, s)| (p.1, p.2, s.flow.rate()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Opcode;

    const PEER: Peer = (Route::LOCAL, 7, 8);

    fn request(op: Opcode, seq: u16) -> Request {
        Request {
            peer: PEER,
            packet: FtpPacket::request(op, seq),
            invalid_size: None,
        }
    }

    #[test]
    fn requests_kept_for_the_end_of_the_read_wait_in_order_and_no_worker_takes_them() {
        let mut sched = Scheduler::new(Arc::new(Mutex::new(Quota::default())));
        let Arrival::EndOfRead(state) =
            sched.arrive(request(Opcode::WriteFile, 1), Intake::EndOfRead)
        else {
            panic!("an idle peer's write waits for the end of its read");
        };
        // The same read's next requests queue behind it, for the same thread.
        for (seq, op) in [(3, Opcode::WriteFile), (5, Opcode::OpenFileRO)] {
            assert!(matches!(
                sched.arrive(request(op, seq), Intake::EndOfRead),
                Arrival::Queued(false)
            ));
        }
        assert!(sched.take_ready().is_none(), "no worker is woken for them");
        let write = |r: &Request| r.packet.opcode == Opcode::WriteFile;
        assert_eq!(
            sched.next_request(PEER, write).map(|r| r.packet.seq),
            Some(1)
        );
        assert_eq!(
            sched.next_request(PEER, write).map(|r| r.packet.seq),
            Some(3)
        );
        assert!(
            sched.next_request(PEER, write).is_none(),
            "stops at the open"
        );
        // What the reading thread leaves goes to the workers.
        assert!(sched.check_in(PEER, state));
        let (peer, _state) = sched.take_ready().expect("the open is a worker's");
        assert_eq!(peer, PEER);
        assert_eq!(
            sched.next_request(PEER, |_| true).map(|r| r.packet.seq),
            Some(5)
        );
    }

    #[test]
    fn a_busy_peers_write_is_queued_as_before() {
        let mut sched = Scheduler::new(Arc::new(Mutex::new(Quota::default())));
        assert!(matches!(
            sched.arrive(request(Opcode::OpenFileRO, 1), Intake::Queue),
            Arrival::Queued(true)
        ));
        assert!(matches!(
            sched.arrive(request(Opcode::WriteFile, 3), Intake::EndOfRead),
            Arrival::Queued(false)
        ));
    }
}
