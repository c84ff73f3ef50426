//! Per-peer cache of the last replies, so that a duplicated request (the same
//! packet again: a retransmission after a lost reply) is answered with the same
//! reply packets without being executed a second time.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::protocol::FtpPacket;

use super::sessions::Peer;

/// Requests remembered per peer (a pipelining client has several in flight).
pub const ENTRIES_PER_PEER: usize = 16;
/// A cached reply older than this is forgotten.
pub const ENTRY_LIFETIME: Duration = Duration::from_secs(10);

struct Entry {
    request: FtpPacket,
    replies: Vec<FtpPacket>,
    at: Instant,
}

/// The reply cache.
#[derive(Default)]
pub struct ReplyCache {
    peers: HashMap<Peer, VecDeque<Entry>>,
}

impl ReplyCache {
    /// An empty cache.
    pub fn new() -> ReplyCache {
        ReplyCache::default()
    }

    /// The replies to an identical earlier request of `peer`, if cached.
    pub fn lookup(&self, peer: Peer, request: &FtpPacket) -> Option<&[FtpPacket]> {
        let now = Instant::now();
        self.peers.get(&peer)?.iter().rev().find_map(|e| {
            (e.request == *request && now.saturating_duration_since(e.at) < ENTRY_LIFETIME)
                .then_some(e.replies.as_slice())
        })
    }

    /// Remember the replies to a request.
    pub fn store(&mut self, peer: Peer, request: &FtpPacket, replies: &[FtpPacket]) {
        let queue = self.peers.entry(peer).or_default();
        // A request with the same sequence number replaces the older entry.
        queue.retain(|e| e.request.seq != request.seq);
        if queue.len() >= ENTRIES_PER_PEER {
            queue.pop_front();
        }
        queue.push_back(Entry {
            request: request.clone(),
            replies: replies.to_vec(),
            at: Instant::now(),
        });
    }

    /// Forget everything about `peer` (after ResetSessions).
    pub fn forget_peer(&mut self, peer: Peer) {
        self.peers.remove(&peer);
    }

    /// Drop expired entries.
    pub fn sweep(&mut self) {
        let now = Instant::now();
        self.peers.retain(|_, q| {
            q.retain(|e| now.saturating_duration_since(e.at) < ENTRY_LIFETIME);
            !q.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{NakCode, Opcode};

    #[test]
    fn replays_identical_requests_only() {
        let mut cache = ReplyCache::new();
        let mut req = FtpPacket::request(Opcode::CreateDirectory, 7);
        req.data = b"/d".to_vec();
        let reply = FtpPacket::ack_for(&req, Vec::new());
        cache.store((1, 1), &req, std::slice::from_ref(&reply));
        assert_eq!(
            cache.lookup((1, 1), &req),
            Some(std::slice::from_ref(&reply))
        );
        assert_eq!(cache.lookup((2, 1), &req), None);
        let mut other = req.clone();
        other.data = b"/e".to_vec();
        assert_eq!(cache.lookup((1, 1), &other), None);
        let nak = FtpPacket::nak_for(&other, NakCode::Fail, 0);
        cache.store((1, 1), &other, &[nak]);
        assert_eq!(cache.lookup((1, 1), &req), None);
        cache.forget_peer((1, 1));
        assert_eq!(cache.lookup((1, 1), &other), None);
    }
}
