//! Running one test of this binary alone in a child process: for a test that
//! measures the whole process (open files, memory) or needs its environment
//! set from the start (MAVFTP_TRACE), which the other tests of the binary,
//! running beside it in threads, would disturb. Included (`#[path]`, as
//! `own_process`) by the test binaries that have such tests.
//!
//! A test that runs alone starts with
//! `if !own_process::is_child() { own_process::run_alone("module::name", &[]); return; }`.

use std::process::{Command, Output};

/// Set in the child's environment.
const CHILD: &str = "MAVFTP_TEST_OWN_PROCESS";

/// Whether this process is a child started by [`run_alone`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Run the test `name` (its path in this binary, e.g. `trace::works`) alone
/// in a child process of this binary with `env` added; returns its output
/// and panics with it when the test failed or did not run.
pub fn run_alone(name: &str, env: &[(&str, &str)]) -> Output {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .envs(env.iter().copied())
        .output()
        .expect("run the test in its own process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in its own process failed:\n{stdout}\n{stderr}"
    );
    out
}
