//! What the interop tests share besides tests/common: checking a driver's
//! result, and turns on the machine (the tests under load run
//! alone: their busy loops would slow every test beside them).

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::peers::DriverAnswer;

/// Checks of a driver's answer.
pub trait AnswerFields {
    /// Panics with the full answer unless `result` is `want`.
    fn expect_result(&self, want: &str) -> &Self;
}

impl AnswerFields for DriverAnswer {
    fn expect_result(&self, want: &str) -> &Self {
        assert_eq!(
            self.result(),
            want,
            "driver answered {}\nstderr:\n{}",
            self.line,
            self.stderr
        );
        self
    }
}

/// The machine, shared by the tests of this binary.
static MACHINE: RwLock<()> = RwLock::new(());

/// A turn beside the other tests (most tests).
pub fn beside_others() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

/// The whole machine: no other test of this binary runs meanwhile.
pub fn alone() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}
