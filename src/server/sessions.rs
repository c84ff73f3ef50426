//! Open-file sessions and their limits.
//!
//! A peer is (route, system id, component id): two ground stations with the
//! same own ids on two UDP ports (or two TCP connections) are two peers and
//! never see or close each other's sessions. Session ids are per peer (the
//! requested id is echoed when that peer does not use it yet).
//!
//! Limits (documented in the README): at most [`SESSIONS_PER_PEER`] open
//! sessions per peer, [`SESSIONS_PER_ROUTE`] per route and [`MAX_SESSIONS`]
//! in all; a request over any of them gets NAK NoSessionsAvailable. So a
//! peer that keeps every session it can busy locks out neither the other
//! peers on its route nor other routes, and a sender cycling through
//! system/component ids on one route still leaves room for every other
//! route. A session unused for the idle timeout
//! ([`DEFAULT_IDLE_TIMEOUT`]) is closed.
//!
//! The file of a session is shared (`Arc<SessionFile>`) with a burst that
//! streams from it; its [`Gate`] serialises the burst's sending with the
//! session's close, so that no burst packet leaves after the ACK of the
//! TerminateSession (or ResetSessions) that closed it.

use crate::link::fasthash::FastMap;
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::link::Route;
use crate::protocol::NakCode;

/// Sessions open at the same time over all peers.
pub const MAX_SESSIONS: usize = 64;
/// Sessions one peer (route, system, component) may hold at once (every
/// known client uses one or two).
pub const SESSIONS_PER_PEER: usize = 4;
/// Sessions all the peers of one route may hold at once.
pub const SESSIONS_PER_ROUTE: usize = 16;
/// A session unused this long is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A peer: the route its frames come in on and its (system, component) ids.
pub type Peer = (Route, u8, u8);

/// The progress of the burst rounds on one session, for flow control: what
/// the last round sent, and whether the client has shown that it lost some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Identifies the round; a burst whose id is not the current one stops.
    pub id: u64,
    /// Offset the round started at.
    pub start: u32,
    /// End of the data sent so far.
    pub sent_end: u32,
    /// The round has sent its last packet.
    pub finished: bool,
    /// It ended at its size cap (burst_complete=1 before the end of file).
    pub capped: bool,
    /// The client asked again for bytes it had been sent.
    pub loss_seen: bool,
}

/// What a burst and the session's close agree on, under one lock.
#[derive(Debug, Default)]
pub struct Gate {
    /// False once the session is closed: its burst stops.
    pub open: bool,
    /// The current (or last) burst round.
    pub round: Option<Round>,
    next_round: u64,
}

impl Gate {
    /// Start a new round at `offset` (a running burst of an older round stops).
    pub fn new_round(&mut self, offset: u32) -> u64 {
        self.next_round += 1;
        self.round = Some(Round {
            id: self.next_round,
            start: offset,
            sent_end: offset,
            finished: false,
            capped: false,
            loss_seen: false,
        });
        self.next_round
    }
}

/// The open file of a session, shared with its burst.
#[derive(Debug)]
pub struct SessionFile {
    /// The open file.
    pub file: File,
    /// Whether it was opened for writing (OpenFileWO/CreateFile).
    pub writable: bool,
    /// Burst/close agreement.
    pub gate: Mutex<Gate>,
    /// Last use in milliseconds since `epoch` (requests and burst packets).
    last_used_ms: AtomicU64,
    epoch: Instant,
    /// Bytes read ahead for a read-only session (see [`SessionFile::cached`]).
    ahead: Mutex<ReadAhead>,
}

/// A block of a read-only session's file read in one system call: the
/// requests and burst packets that follow (239 bytes each) take their bytes
/// from it without a `fstat` and a `pread` each.
#[derive(Debug, Default)]
struct ReadAhead {
    offset: u64,
    data: Vec<u8>,
}

/// Bytes read ahead at a time (a few dozen packets).
const READ_AHEAD: usize = 16 * 1024;

impl SessionFile {
    fn new(file: File, writable: bool, epoch: Instant) -> SessionFile {
        let s = SessionFile {
            file,
            writable,
            gate: Mutex::new(Gate {
                open: true,
                ..Gate::default()
            }),
            last_used_ms: AtomicU64::new(0),
            epoch,
            ahead: Mutex::new(ReadAhead::default()),
        };
        s.touch();
        s
    }

    /// `len` bytes at `offset` when the last block read ahead holds all of
    /// them (they were in the file when that block was read, so they need
    /// neither a size check nor a read); None otherwise, and always for a
    /// session opened for writing.
    pub fn cached(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        if self.writable || len == 0 {
            return None;
        }
        let ahead = self.ahead.lock();
        let start = usize::try_from(offset.checked_sub(ahead.offset)?).ok()?;
        let end = start.checked_add(len)?;
        ahead.data.get(start..end).map(<[u8]>::to_vec)
    }

    /// Read up to `buf.len()` bytes at `offset` (fewer only at the end of
    /// the file); a read-only session reads a whole block ahead and keeps it
    /// for [`SessionFile::cached`].
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let fill = |out: &mut [u8]| -> std::io::Result<usize> {
            let mut got = 0;
            while got < out.len() {
                match self.file.read_at(&mut out[got..], offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(got)
        };
        if self.writable || buf.len() >= READ_AHEAD {
            return fill(buf);
        }
        let mut ahead = self.ahead.lock();
        ahead.data.resize(READ_AHEAD, 0);
        let got = match fill(&mut ahead.data) {
            Ok(n) => n,
            Err(e) => {
                ahead.data.clear();
                return Err(e);
            }
        };
        ahead.data.truncate(got);
        ahead.offset = offset;
        let n = got.min(buf.len());
        buf[..n].copy_from_slice(&ahead.data[..n]);
        Ok(n)
    }

    /// Mark the session as used now.
    pub fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_used_ms.store(ms, Ordering::Relaxed);
    }

    /// How long the session has been unused.
    pub fn idle_for(&self) -> Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_used_ms.load(Ordering::Relaxed)))
    }
}

/// Session counts per route and in all (shared by every peer of a server).
#[derive(Debug, Default)]
pub struct Quota {
    per_route: FastMap<Route, usize>,
    total: usize,
}

impl Quota {
    /// Sessions open in all.
    pub fn total(&self) -> usize {
        self.total
    }

    fn take(&mut self, route: Route) -> bool {
        let n = self.per_route.entry(route).or_default();
        if *n >= SESSIONS_PER_ROUTE || self.total >= MAX_SESSIONS {
            if *n == 0 {
                self.per_route.remove(&route);
            }
            return false;
        }
        *n += 1;
        self.total += 1;
        true
    }

    fn give_back(&mut self, route: Route) {
        if let Some(n) = self.per_route.get_mut(&route) {
            *n -= 1;
            if *n == 0 {
                self.per_route.remove(&route);
            }
        }
        self.total = self.total.saturating_sub(1);
    }
}

/// One session of a peer: the shared file and its place in the quota, both
/// given back when the entry is dropped (close, reset, idle, server stop).
#[derive(Debug)]
struct Entry {
    file: Arc<SessionFile>,
    route: Route,
    quota: Arc<Mutex<Quota>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        // Stops a burst of this session before anything else is sent.
        self.file.gate.lock().open = false;
        self.quota.lock().give_back(self.route);
    }
}

/// The sessions of one peer.
#[derive(Debug)]
pub struct PeerSessions {
    route: Route,
    map: FastMap<u8, Entry>,
    quota: Arc<Mutex<Quota>>,
    epoch: Instant,
}

impl PeerSessions {
    /// The (empty) session table of a peer on `route`.
    pub fn new(route: Route, quota: Arc<Mutex<Quota>>, epoch: Instant) -> PeerSessions {
        PeerSessions {
            route,
            map: FastMap::default(),
            quota,
            epoch,
        }
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Close every session unused for longer than `idle`.
    pub fn sweep(&mut self, idle: Duration) {
        self.map.retain(|_, e| e.file.idle_for() < idle);
    }

    /// Open a session: the requested id if this peer does not use it, else
    /// the lowest free id. NoSessionsAvailable over any limit.
    pub fn open(
        &mut self,
        requested: u8,
        file: File,
        writable: bool,
        idle: Duration,
    ) -> Result<u8, NakCode> {
        if self.map.len() >= SESSIONS_PER_PEER {
            self.sweep(idle);
        }
        if self.map.len() >= SESSIONS_PER_PEER {
            return Err(NakCode::NoSessionsAvailable);
        }
        let id = if !self.map.contains_key(&requested) {
            requested
        } else {
            (0..=255u8)
                .find(|id| !self.map.contains_key(id))
                .ok_or(NakCode::NoSessionsAvailable)?
        };
        if !self.quota.lock().take(self.route) {
            return Err(NakCode::NoSessionsAvailable);
        }
        let entry = Entry {
            file: Arc::new(SessionFile::new(file, writable, self.epoch)),
            route: self.route,
            quota: Arc::clone(&self.quota),
        };
        self.map.insert(id, entry);
        Ok(id)
    }

    /// The session, marked as used now.
    pub fn get(&self, id: u8) -> Option<&Arc<SessionFile>> {
        let e = self.map.get(&id)?;
        e.file.touch();
        Some(&e.file)
    }

    /// Whether the session exists.
    #[cfg(test)]
    pub fn contains(&self, id: u8) -> bool {
        self.map.contains_key(&id)
    }

    /// Close one session; false when it was not open.
    pub fn close(&mut self, id: u8) -> bool {
        self.map.remove(&id).is_some()
    }

    /// Close every session of this peer.
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> File {
        tempfile::tempfile().unwrap()
    }

    /// The read-ahead block serves only bytes it read from the file: a
    /// range past its end (the file grew since) is read again, a file
    /// opened for writing is never served from it.
    #[test]
    fn read_ahead_serves_only_what_it_read() {
        use std::io::Write;
        let mut f = file();
        let first: Vec<u8> = (0..100u8).collect();
        f.write_all(&first).unwrap();
        let s = SessionFile::new(f.try_clone().unwrap(), false, Instant::now());
        let mut buf = [0u8; 40];
        assert_eq!(s.read_at(10, &mut buf).unwrap(), 40);
        assert_eq!(&buf[..], &first[10..50]);
        assert_eq!(s.cached(50, 50).as_deref(), Some(&first[50..100]));
        assert_eq!(s.cached(5, 10), None, "before the block");
        assert_eq!(s.cached(90, 20), None, "past what was read");
        let more: Vec<u8> = (100..200u8).collect();
        f.write_all(&more).unwrap();
        let mut buf = [0u8; 20];
        assert_eq!(s.read_at(90, &mut buf).unwrap(), 20);
        assert_eq!(&buf[..10], &first[90..100]);
        assert_eq!(&buf[10..], &more[..10]);
        assert_eq!(s.cached(150, 50).as_deref(), Some(&more[50..100]));
        let mut buf = [0u8; 20];
        assert_eq!(s.read_at(195, &mut buf).unwrap(), 5, "short at the end");
        assert_eq!(s.read_at(200, &mut buf).unwrap(), 0);
        let w = SessionFile::new(f, true, Instant::now());
        assert_eq!(w.read_at(0, &mut buf).unwrap(), 20);
        assert_eq!(w.cached(0, 10), None, "never for a writable session");
    }

    fn route(port: u16) -> Route {
        Route::udp(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    }

    #[test]
    fn echoes_requested_id_allocates_when_taken_and_stops_at_the_peer_quota() {
        let quota = Arc::new(Mutex::new(Quota::default()));
        let epoch = Instant::now();
        let idle = Duration::from_secs(60);
        let mut a = PeerSessions::new(route(1), Arc::clone(&quota), epoch);
        let mut b = PeerSessions::new(route(1), Arc::clone(&quota), epoch);
        assert_eq!(a.open(3, file(), false, idle), Ok(3));
        assert_eq!(a.open(3, file(), false, idle), Ok(0));
        assert_eq!(b.open(3, file(), false, idle), Ok(3));
        for _ in 2..SESSIONS_PER_PEER {
            assert!(a.open(0, file(), false, idle).is_ok());
        }
        assert_eq!(
            a.open(0, file(), false, idle),
            Err(NakCode::NoSessionsAvailable)
        );
        // The other peer still gets its own.
        assert!(b.open(0, file(), false, idle).is_ok());
        assert_eq!(quota.lock().total(), SESSIONS_PER_PEER + 2);
        a.clear();
        assert_eq!(quota.lock().total(), 2);
        assert!(b.contains(3));
    }

    #[test]
    fn the_route_quota_leaves_room_for_other_routes_and_closing_gives_it_back() {
        let quota = Arc::new(Mutex::new(Quota::default()));
        let epoch = Instant::now();
        let idle = Duration::from_secs(60);
        let mut peers: Vec<PeerSessions> = (0..SESSIONS_PER_ROUTE)
            .map(|_| PeerSessions::new(Route::LOCAL, Arc::clone(&quota), epoch))
            .collect();
        for p in &mut peers {
            assert!(p.open(0, file(), false, idle).is_ok());
        }
        let mut late = PeerSessions::new(Route::LOCAL, Arc::clone(&quota), epoch);
        assert_eq!(
            late.open(0, file(), false, idle),
            Err(NakCode::NoSessionsAvailable)
        );
        // Another route is not affected.
        let mut other = PeerSessions::new(route(9), Arc::clone(&quota), epoch);
        assert_eq!(other.open(0, file(), false, idle), Ok(0));
        assert!(peers[0].close(0));
        assert_eq!(late.open(0, file(), false, idle), Ok(0));
    }

    #[test]
    fn idle_sessions_are_reclaimed_and_a_closed_session_stops_its_burst() {
        let quota = Arc::new(Mutex::new(Quota::default()));
        let mut s = PeerSessions::new(Route::LOCAL, Arc::clone(&quota), Instant::now());
        assert_eq!(s.open(0, file(), false, Duration::from_secs(60)), Ok(0));
        let shared = Arc::clone(s.get(0).unwrap());
        assert!(shared.gate.lock().open);
        std::thread::sleep(Duration::from_millis(80));
        s.sweep(Duration::from_millis(50));
        assert!(s.is_empty());
        assert!(!shared.gate.lock().open);
        assert_eq!(quota.lock().total(), 0);
    }
}
