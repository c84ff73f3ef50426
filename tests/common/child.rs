//! A child process killed (and reaped) with the test that started it.
//! Included (`#[path]`, as `child`) by the test binaries that run peers in
//! other processes.

use std::process::{Child, ChildStdin};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped; closing its stdin
/// first gives a peer that watches stdin the chance to exit by itself.
pub struct ChildGuard {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
