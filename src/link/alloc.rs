//! What the clients sharing one link must not both use at the same time:
//! FTP session ids (claimed per transfer, released on drop) and request
//! sequence numbers (one counter per link that follows the highest seq the
//! servers have used, so that no client reuses a seq a server just used for
//! another client's burst or cached reply).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Per-link allocator state shared by every handle of the link.
pub(crate) struct ClientIds {
    held: Arc<Mutex<BTreeSet<u8>>>,
    next_seq: Mutex<u16>,
}

impl ClientIds {
    pub fn new() -> ClientIds {
        ClientIds {
            held: Arc::new(Mutex::new(BTreeSet::new())),
            next_seq: Mutex::new(random_u64() as u16),
        }
    }

    /// A non-zero session id no other claim of this link holds, chosen at
    /// random among the free ones (so that two processes rarely pick the
    /// same). Busy when all 255 are held.
    pub fn claim_session_id(&self) -> FtpOutcome<SessionIdClaim> {
        let mut held = self.held.lock();
        let free = 255 - held.len();
        if free == 0 {
            return Err(FtpError::new(
                FtpResult::Busy,
                "all 255 session ids of this link are in use",
            ));
        }
        let pick = (random_u64() % free as u64) as usize;
        let id = (1..=255u8)
            .filter(|id| !held.contains(id))
            .nth(pick)
            .unwrap_or(1);
        held.insert(id);
        Ok(SessionIdClaim {
            id,
            held: Arc::clone(&self.held),
        })
    }

    /// The seq for a new request (never the same for two requests of this
    /// link until the counter wraps).
    pub fn next_seq(&self) -> u16 {
        let mut next = self.next_seq.lock();
        let seq = *next;
        *next = next.wrapping_add(1);
        seq
    }

    /// Note a seq received from a server: later requests use seqs above it.
    pub fn saw_seq(&self, seq: u16) {
        let mut next = self.next_seq.lock();
        *next = follow(*next, seq);
    }
}

/// The next request seq after seeing `seen` when it was `next`: `seen + 1`
/// if that is ahead of `next` (mod 2^16, within half the space), else `next`.
fn follow(next: u16, seen: u16) -> u16 {
    let candidate = seen.wrapping_add(1);
    if candidate.wrapping_sub(next) < 0x8000 {
        candidate
    } else {
        next
    }
}

/// A session id held by one client of a link until dropped.
#[derive(Debug)]
pub struct SessionIdClaim {
    id: u8,
    held: Arc<Mutex<BTreeSet<u8>>>,
}

impl SessionIdClaim {
    /// The claimed id (1–255).
    pub fn id(&self) -> u8 {
        self.id
    }
}

impl Drop for SessionIdClaim {
    fn drop(&mut self) {
        self.held.lock().remove(&self.id);
    }
}

/// A pseudo-random number (splitmix64 over the clock, the process id and a
/// counter; no extra dependency, not for cryptography).
pub(crate) fn random_u64() -> u64 {
    static CTR: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ CTR
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_non_zero_distinct_and_released_on_drop() {
        let ids = ClientIds::new();
        let claims: Vec<_> = (0..255).map(|_| ids.claim_session_id().unwrap()).collect();
        let mut seen: Vec<u8> = claims.iter().map(|c| c.id()).collect();
        seen.sort();
        assert_eq!(seen, (1..=255).collect::<Vec<u8>>());
        assert_eq!(
            ids.claim_session_id().map(|c| c.id()).map_err(|e| e.result),
            Err(FtpResult::Busy)
        );
        drop(claims);
        let again = ids.claim_session_id().unwrap();
        assert_ne!(
            again.id(),
            0,
            "ids are free again after the claims are dropped"
        );
    }

    #[test]
    fn claims_are_spread_over_the_free_ids() {
        let ids = ClientIds::new();
        let mut firsts = BTreeSet::new();
        for _ in 0..64 {
            firsts.insert(ids.claim_session_id().unwrap().id());
        }
        assert!(firsts.len() > 16, "claims not random: {firsts:?}");
    }

    #[test]
    fn seqs_are_unique_and_wrap() {
        let ids = ClientIds::new();
        *ids.next_seq.lock() = 0xFFFE;
        assert_eq!(ids.next_seq(), 0xFFFE);
        assert_eq!(ids.next_seq(), 0xFFFF);
        assert_eq!(ids.next_seq(), 0);
    }

    #[test]
    fn seq_follows_the_highest_seq_seen_modulo_2_16() {
        assert_eq!(follow(10, 20), 21, "ahead: follow it");
        assert_eq!(follow(10, 5), 10, "behind: keep ours");
        assert_eq!(follow(10, 9), 10, "the reply to our last request");
        assert_eq!(follow(0xFFF0, 0xFFFF), 0, "ahead across the wrap");
        assert_eq!(follow(0x0005, 0xFFF0), 0x0005, "behind across the wrap");
        assert_eq!(follow(0, 0x7FFE), 0x7FFF, "just under half the space ahead");
        assert_eq!(follow(0, 0x7FFF), 0, "half the space: taken as behind");
    }

    #[test]
    fn saw_seq_moves_the_shared_counter() {
        let ids = ClientIds::new();
        *ids.next_seq.lock() = 100;
        ids.saw_seq(500);
        assert_eq!(ids.next_seq(), 501);
        ids.saw_seq(7);
        assert_eq!(ids.next_seq(), 502);
    }
}
