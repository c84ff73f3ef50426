//! A third-party peer's driver script (tests/interop/*.py: MAVSDK's and
//! pymavlink's clients, MAVSDK's server) run to its one-line JSON answer.
//! Included (`#[path]`, as `driver`, next to `json`) by the client and
//! interop test binaries (through `peers`) and by the benchmark.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A script of tests/interop/ (the drivers and the venv script).
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
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

/// How a driver run ended.
pub struct DriverRun {
    /// It ran past the limit and was killed.
    pub killed: bool,
    /// The last JSON line it printed (None when it printed none or was killed).
    pub line: Option<String>,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// Run `python tests/interop/<script_name> args...` to its end, or kill it
/// at `limit`. Its stdout and stderr are read while it runs, so a chatty
/// driver never blocks on a full pipe. Err only when it cannot start.
pub fn run_driver_to_end(
    python: &Path,
    script_name: &str,
    args: &[impl AsRef<OsStr>],
    limit: Duration,
) -> Result<DriverRun, String> {
    let mut child = Command::new(python)
        .arg(script(script_name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {script_name}: {e}"))?;
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = collect(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = collect(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let mut killed = false;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .map(str::to_string);
    Ok(DriverRun {
        killed,
        line: line.filter(|_| !killed),
        stderr,
    })
}
