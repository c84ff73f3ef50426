//! The fuzz targets (`support`, shared with the cargo-fuzz crate in fuzz/)
//! on the stable toolchain (`cargo test --release --test fuzz`): the seeded
//! mutation driver and the regressions they found.

mod support;

mod mutation;
mod regressions;

/// Tests of this binary run one at a time: the mutation driver counts the
/// process's panics (one the library catches is a failure too), so no other
/// test may run beside it.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}
