//! Child processes: peers that print READY, the Python drivers and their JSON
//! answers, the venv, CPU time.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> Result<u16, String> {
    crate::port::free_udp_port().map_err(|e| format!("cannot bind an ephemeral UDP port: {e}"))
}

pub use crate::child::ChildGuard;
pub use crate::content::pattern;
use crate::driver::run_driver_to_end;
pub use crate::driver::{DriverAnswer, script};

/// A child process whose stdout lines arrive on a channel.
pub struct Spawned {
    pub guard: ChildGuard,
    pub lines: Receiver<String>,
}

/// Spawn `cmd` with piped stdin/stdout and wait for a stdout line starting
/// with "READY"; returns the rest of that line.
pub fn spawn_ready(
    mut cmd: Command,
    what: &str,
    limit: Duration,
) -> Result<(Spawned, String), String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Drain stderr so a chatty peer never blocks on a full pipe; with
    // MAVFTP_TRACE set it goes to ours (the ground's client trace).
    let keep = std::env::var_os("MAVFTP_TRACE").is_some_and(|v| !v.is_empty() && v != "0");
    std::thread::spawn(move || {
        let mut stderr = BufReader::new(stderr);
        let _ = if keep {
            std::io::copy(&mut stderr, &mut std::io::stderr())
        } else {
            std::io::copy(&mut stderr, &mut std::io::sink())
        };
    });
    let stdin = child.stdin.take();
    let mut spawned = Spawned {
        guard: ChildGuard { child, stdin },
        lines: rx,
    };
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match spawned.lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix("READY") {
                    return Ok((spawned, rest.trim().to_string()));
                }
            }
            Err(_) => {
                let status = spawned.guard.child.try_wait();
                return Err(format!("{what} did not get ready (status {status:?})"));
            }
        }
    }
}

impl Spawned {
    /// Close stdin (the peer's signal to stop) and return a line starting
    /// with `prefix` printed before it exits, if any.
    pub fn finish(mut self, prefix: &str) -> Option<String> {
        drop(self.guard.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if let Some(rest) = line.strip_prefix(prefix) {
                return Some(rest.trim().to_string());
            }
        }
        None
    }

    /// Write one line to the child's stdin.
    pub fn send_line(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.guard.stdin.as_mut().ok_or("stdin already closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to the child: {e}"))
    }

    /// The rest of the next stdout line that starts with one of `prefixes`
    /// (with the prefix matched), skipping other lines; Err at `limit` or
    /// when the child's stdout closes.
    pub fn wait_line(
        &mut self,
        prefixes: &[&'static str],
        limit: Duration,
    ) -> Result<(&'static str, String), String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).map_err(|_| {
                format!(
                    "no line starting with {prefixes:?} within {limit:?} (status {:?})",
                    self.guard.child.try_wait()
                )
            })?;
            for p in prefixes {
                if let Some(rest) = line.strip_prefix(p) {
                    return Ok((p, rest.trim().to_string()));
                }
            }
        }
    }

    /// Send "CPU" and read the answer: a `--peer` helper's CPU seconds so far.
    pub fn ask_cpu(&mut self) -> Result<f64, String> {
        self.send_line("CPU")?;
        let (_, v) = self.wait_line(&["CPU"], Duration::from_secs(30))?;
        v.parse().map_err(|_| format!("bad CPU answer '{v}'"))
    }

    /// Close stdin and wait up to `limit` for the child to exit by itself
    /// (a process under valgrind writes its counts when it exits); true if
    /// it did. The guard kills it otherwise when dropped.
    pub fn close_and_wait(&mut self, limit: Duration) -> bool {
        drop(self.guard.stdin.take());
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.guard.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// A Python driver's run: its JSON answer, or None if it was killed at `limit`.
pub fn run_driver(
    python: &Path,
    script_name: &str,
    args: &[String],
    limit: Duration,
) -> Result<Option<DriverAnswer>, String> {
    let run = run_driver_to_end(python, script_name, args, limit)?;
    if run.killed {
        return Ok(None);
    }
    match run.line {
        Some(line) => Ok(Some(DriverAnswer {
            line,
            stderr: run.stderr,
        })),
        None => Err(format!(
            "{script_name} printed no JSON ({})",
            stderr_tail(&run.stderr)
        )),
    }
}

/// The last 3 lines of a driver's stderr, newest first, for a one-line message.
pub fn stderr_tail(stderr: &str) -> String {
    stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
}

/// CPU time (user + system) of this whole process, in seconds.
pub fn process_cpu_s() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage struct owned by this frame.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The venv's python (tests/interop/ensure_venv.sh), without panicking.
pub fn venv_python() -> Result<PathBuf, String> {
    let out = Command::new("bash")
        .arg(script("ensure_venv.sh"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run ensure_venv.sh: {e}"))?;
    if !out.status.success() {
        return Err("ensure_venv.sh failed (needs mavsdk==4.1.0 and pymavlink)".into());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let py = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
    if py.exists() {
        Ok(py)
    } else {
        Err(format!("venv python {} missing", py.display()))
    }
}

pub fn peer_versions(python: &Path) -> String {
    let code = "import importlib.metadata as m; print('mavsdk', m.version('mavsdk'), '/ pymavlink', m.version('pymavlink'))";
    Command::new(python)
        .args(["-c", code])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
