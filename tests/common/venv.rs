//! The venv with the third-party peers (mavsdk 4.1.0, pymavlink 2.4.50),
//! built by tests/interop/ensure_venv.sh. Included (`#[path]`, as `venv`)
//! by every test binary that runs a third-party peer.
//!
//! The venv is never optional: when it cannot be built the test fails, so CI
//! cannot pass by silently skipping the third-party peers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python, built (once per test binary) by tests/interop/ensure_venv.sh.
pub fn venv_python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| ensure_venv(&[], "the interop tests need mavsdk==4.1.0 and pymavlink"))
}

/// Run tests/interop/ensure_venv.sh with `args` and return the python it
/// printed last; `needs` says what failed if it cannot be built.
pub fn ensure_venv(args: &[&str], needs: &str) -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("tests/interop/ensure_venv.sh"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/interop/ensure_venv.sh");
    assert!(
        out.status.success(),
        "ensure_venv.sh {args:?} failed: {needs}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .last()
        .expect("ensure_venv.sh printed nothing");
    let py = PathBuf::from(last.trim());
    assert!(py.exists(), "venv python {py:?} missing");
    py
}
