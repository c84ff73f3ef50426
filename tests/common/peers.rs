//! Tests that run a third-party peer's driver script (tests/interop/*.py:
//! MAVSDK's and pymavlink's clients) share: running a driver to its JSON
//! answer. Included (`#[path]`, as `peers`, next to
//! `venv`) by the client and interop test binaries.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::venv::{repo, venv_python};

/// A script of tests/interop/.
pub fn script(name: &str) -> PathBuf {
    repo().join("tests/interop").join(name)
}

/// Runs one driver script (mavsdk_ftp_client.py, pymavlink_ftp_client.py)
/// to completion and returns its JSON line. Panics after `limit`.
pub fn run_driver(script_name: &str, args: &[&str], limit: Duration) -> DriverAnswer {
    let mut child = Command::new(venv_python())
        .arg(script(script_name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn driver");
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "{script_name} {args:?} ran past {limit:?}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("{script_name} {args:?} printed no JSON\nstderr:\n{stderr}"))
        .to_string();
    DriverAnswer { line, stderr }
}

/// One driver's answer: the JSON line and its stderr (for failure messages).
pub struct DriverAnswer {
    pub line: String,
    pub stderr: String,
}

impl DriverAnswer {
    /// The `result` field (a MAVSDK FtpResult name such as "SUCCESS").
    pub fn result(&self) -> String {
        self.field("result").unwrap_or_default()
    }

    /// A top-level field of the JSON line (a string's text, other values
    /// as written).
    pub fn field(&self, key: &str) -> Option<String> {
        crate::json::field(&self.line, key)
    }
}
