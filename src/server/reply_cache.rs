//! Per-peer cache of the last replies, so that a duplicated request (the same
//! packet again: a retransmission after a lost reply) is answered with the same
//! reply packets without being executed a second time.
//!
//! A reply is replayed only for a request of the same peer (route, system,
//! component) that is identical in every field a server reads: seq, session,
//! opcode, size, req_opcode, burst_complete, offset and the data bytes (the
//! padding byte is not compared: PX4 leaves it uninitialised). A new request
//! with the same seq replaces the older entry.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::protocol::FtpPacket;

/// Requests remembered per peer (a pipelining client has several in flight).
pub const ENTRIES_PER_PEER: usize = 16;
/// A cached reply older than this is forgotten.
pub const ENTRY_LIFETIME: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Entry {
    request: FtpPacket,
    replies: Vec<FtpPacket>,
    at: Instant,
}

/// The reply cache of one peer.
#[derive(Debug, Default)]
pub struct ReplyCache {
    entries: VecDeque<Entry>,
}

impl ReplyCache {
    /// An empty cache.
    pub fn new() -> ReplyCache {
        ReplyCache::default()
    }

    /// The replies to an identical earlier request, if cached.
    pub fn lookup(&self, request: &FtpPacket) -> Option<&[FtpPacket]> {
        let now = Instant::now();
        self.entries.iter().rev().find_map(|e| {
            (e.request == *request && now.saturating_duration_since(e.at) < ENTRY_LIFETIME)
                .then_some(e.replies.as_slice())
        })
    }

    /// Remember the replies to a request.
    pub fn store(&mut self, request: FtpPacket, replies: Vec<FtpPacket>) {
        if self.entries.iter().any(|e| e.request.seq == request.seq) {
            self.entries.retain(|e| e.request.seq != request.seq);
        }
        if self.entries.len() >= ENTRIES_PER_PEER {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            request,
            replies,
            at: Instant::now(),
        });
    }

    /// Forget everything (after ResetSessions).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Drop expired entries.
    pub fn sweep(&mut self) {
        let now = Instant::now();
        self.entries
            .retain(|e| now.saturating_duration_since(e.at) < ENTRY_LIFETIME);
    }

    /// Whether nothing is cached.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
        cache.store(req.clone(), vec![reply.clone()]);
        assert_eq!(cache.lookup(&req), Some(std::slice::from_ref(&reply)));
        for change in 0..5 {
            let mut other = req.clone();
            match change {
                0 => other.data = b"/e".to_vec(),
                1 => other.offset = 1,
                2 => other.session = 1,
                3 => other.burst_complete = true,
                _ => other.req_opcode = Opcode::ListDirectory,
            }
            assert_eq!(cache.lookup(&other), None, "change {change}");
        }
        let mut other = req.clone();
        other.data = b"/e".to_vec();
        let nak = FtpPacket::nak_for(&other, NakCode::Fail, 0);
        cache.store(other.clone(), vec![nak]);
        assert_eq!(cache.lookup(&req), None, "same seq replaces");
        cache.clear();
        assert_eq!(cache.lookup(&other), None);
        assert!(cache.is_empty());
    }
}
