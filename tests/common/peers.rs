//! Tests that run a third-party peer's driver script (tests/interop/*.py:
//! MAVSDK's and pymavlink's clients) share: running a driver in the venv to
//! its JSON answer, or failing the test. Included (`#[path]`, as `peers`,
//! next to `driver` and `venv`) by the client and interop test binaries.

use std::time::Duration;

pub use crate::driver::DriverAnswer;
use crate::driver::run_driver_to_end;
use crate::venv::venv_python;

/// Runs one driver script (mavsdk_ftp_client.py, pymavlink_ftp_client.py)
/// to completion and returns its JSON line. Panics after `limit`.
pub fn run_driver(script_name: &str, args: &[&str], limit: Duration) -> DriverAnswer {
    let run = run_driver_to_end(venv_python(), script_name, args, limit)
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = run.stderr;
    if run.killed {
        panic!("{script_name} {args:?} ran past {limit:?}\nstderr:\n{stderr}");
    }
    let Some(line) = run.line else {
        panic!("{script_name} {args:?} printed no JSON\nstderr:\n{stderr}");
    };
    DriverAnswer { line, stderr }
}
