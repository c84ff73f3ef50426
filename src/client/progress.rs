//! Progress reporting of a transfer.

use std::time::{Duration, Instant};

use super::types::{Progress, ProgressFn};

/// Rate-limits progress callbacks: at most every 1 % or 100 ms, whichever is rarer.
pub(crate) struct ProgressGate {
    f: Option<ProgressFn>,
    last_at: Option<Instant>,
    last_bytes: u32,
}

impl ProgressGate {
    pub fn new(f: Option<ProgressFn>) -> ProgressGate {
        ProgressGate {
            f,
            last_at: None,
            last_bytes: 0,
        }
    }
    /// The last progress of a completed transfer: `len` of `len` bytes.
    pub fn finish(&mut self, len: u32) {
        let p = Progress {
            bytes_transferred: len,
            total_bytes: len,
        };
        self.report(p, true);
    }

    pub fn report(&mut self, p: Progress, force: bool) {
        let Some(f) = self.f.as_mut() else { return };
        let step = (p.total_bytes / 100).max(1);
        let time_ok = self
            .last_at
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        let bytes_ok =
            p.bytes_transferred.saturating_sub(self.last_bytes) >= step || p.total_bytes == 0;
        if force || (time_ok && bytes_ok) {
            self.last_at = Some(Instant::now());
            self.last_bytes = p.bytes_transferred;
            f(p);
        }
    }
}
