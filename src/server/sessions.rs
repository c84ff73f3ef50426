//! Open-file sessions, keyed by (peer system id, peer component id, session id),
//! with an idle timeout after which a session is reclaimed.

use std::collections::HashMap;
use std::fs::File;
use std::time::{Duration, Instant};

use crate::protocol::NakCode;

/// Sessions open at the same time over all peers.
pub const MAX_SESSIONS: usize = 8;
/// A session unused this long is closed when room is needed or on the next sweep.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A peer: (system id, component id).
pub type Peer = (u8, u8);

/// One open file.
#[derive(Debug)]
pub struct Session {
    /// The open file.
    pub file: File,
    /// Whether the session was opened for writing (OpenFileWO/CreateFile).
    pub writable: bool,
    /// Last time a request used the session.
    pub last_used: Instant,
}

/// The table of open sessions.
#[derive(Debug)]
pub struct Sessions {
    map: HashMap<(u8, u8, u8), Session>,
    max: usize,
    idle: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(MAX_SESSIONS, DEFAULT_IDLE_TIMEOUT)
    }
}

impl Sessions {
    /// A table holding at most `max` sessions, reclaiming after `idle`.
    pub fn new(max: usize, idle: Duration) -> Sessions {
        Sessions {
            map: HashMap::new(),
            max: max.max(1),
            idle,
        }
    }

    /// Change the idle timeout.
    pub fn set_idle_timeout(&mut self, idle: Duration) {
        self.idle = idle;
    }

    /// Number of open sessions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Close every session idle for longer than the timeout.
    pub fn sweep(&mut self, now: Instant) {
        let idle = self.idle;
        self.map
            .retain(|_, s| now.saturating_duration_since(s.last_used) < idle);
    }

    /// Open a session for `peer`: the requested id if it is free for this
    /// peer, else the lowest free id. NoSessionsAvailable when full.
    pub fn open(
        &mut self,
        peer: Peer,
        requested: u8,
        file: File,
        writable: bool,
    ) -> Result<u8, NakCode> {
        let now = Instant::now();
        if self.map.len() >= self.max {
            self.sweep(now);
        }
        if self.map.len() >= self.max {
            return Err(NakCode::NoSessionsAvailable);
        }
        let id = if !self.map.contains_key(&(peer.0, peer.1, requested)) {
            requested
        } else {
            (0..=255u8)
                .find(|id| !self.map.contains_key(&(peer.0, peer.1, *id)))
                .ok_or(NakCode::NoSessionsAvailable)?
        };
        self.map.insert(
            (peer.0, peer.1, id),
            Session {
                file,
                writable,
                last_used: now,
            },
        );
        Ok(id)
    }

    /// The session, marked as used now.
    pub fn get(&mut self, peer: Peer, id: u8) -> Option<&mut Session> {
        let s = self.map.get_mut(&(peer.0, peer.1, id))?;
        s.last_used = Instant::now();
        Some(s)
    }

    /// Whether the session exists (without touching it).
    pub fn contains(&self, peer: Peer, id: u8) -> bool {
        self.map.contains_key(&(peer.0, peer.1, id))
    }

    /// Close one session; false when it was not open.
    pub fn close(&mut self, peer: Peer, id: u8) -> bool {
        self.map.remove(&(peer.0, peer.1, id)).is_some()
    }

    /// Close every session of `peer`.
    pub fn reset_peer(&mut self, peer: Peer) {
        self.map.retain(|k, _| (k.0, k.1) != peer);
    }

    /// Close everything.
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

    #[test]
    fn echoes_requested_id_allocates_when_taken_and_fills_up() {
        let mut s = Sessions::new(4, Duration::from_secs(60));
        assert_eq!(s.open((1, 1), 3, file(), false), Ok(3));
        assert_eq!(s.open((1, 1), 3, file(), false), Ok(0));
        assert_eq!(s.open((2, 1), 3, file(), false), Ok(3));
        assert_eq!(s.open((2, 1), 0, file(), false), Ok(0));
        assert_eq!(
            s.open((9, 9), 0, file(), false),
            Err(NakCode::NoSessionsAvailable)
        );
        s.reset_peer((1, 1));
        assert_eq!(s.len(), 2);
        assert!(s.contains((2, 1), 3));
        assert!(!s.contains((1, 1), 3));
    }

    #[test]
    fn idle_sessions_are_reclaimed_when_full() {
        let mut s = Sessions::new(1, Duration::from_millis(50));
        assert_eq!(s.open((1, 1), 0, file(), false), Ok(0));
        assert!(s.open((2, 1), 0, file(), false).is_err());
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(s.open((2, 1), 0, file(), false), Ok(0));
        assert!(!s.contains((1, 1), 0));
    }
}
