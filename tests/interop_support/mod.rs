//! Shared plumbing for the interop tests: the venv with the third-party peers
//! (mavsdk 4.1.0, pymavlink), free loopback ports, child processes that die
//! with the test, and reading the drivers' one-line JSON answers.
//!
//! The venv is never optional: when it cannot be built the test fails, so CI
//! cannot pass by silently skipping the third-party peers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A script of tests/interop/.
pub fn script(name: &str) -> PathBuf {
    repo().join("tests/interop").join(name)
}

/// The venv's python, built (once per test binary) by tests/interop/ensure_venv.sh.
pub fn venv_python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("bash")
            .arg(script("ensure_venv.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/interop/ensure_venv.sh");
        assert!(
            out.status.success(),
            "ensure_venv.sh failed: the interop tests need mavsdk==4.1.0 and pymavlink"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout
            .lines()
            .last()
            .expect("ensure_venv.sh printed nothing");
        let py = PathBuf::from(last.trim());
        assert!(py.exists(), "venv python {py:?} missing");
        py
    })
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A child process killed (and reaped) when dropped.
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

/// Starts MAVSDK's FtpServer over `root`, talking `url` (from the server's
/// side, e.g. `udpout://127.0.0.1:P`), and waits for its READY line.
pub fn start_mavsdk_server(root: &Path, url: &str, extra: &[&str]) -> ChildGuard {
    start_mavsdk_server_with(Command::new(venv_python()), root, url, extra)
}

/// Like [`start_mavsdk_server`], the server running as user `nobody` when
/// this process runs as root (root reads any file, whatever its mode; a test
/// of an unreadable file needs a server that cannot).
pub fn start_mavsdk_server_as_nobody(root: &Path, url: &str, extra: &[&str]) -> ChildGuard {
    // SAFETY: a plain system call.
    if unsafe { libc::geteuid() } != 0 {
        return start_mavsdk_server(root, url, extra);
    }
    // MAVSDK writes a cache under $HOME: one nobody may write.
    let home = std::env::temp_dir().join(format!("mavftp-nobody-home-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&home);
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777));
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(venv_python())
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join(".cache"));
    start_mavsdk_server_with(cmd, root, url, extra)
}

fn start_mavsdk_server_with(
    mut command: Command,
    root: &Path,
    url: &str,
    extra: &[&str],
) -> ChildGuard {
    let mut child = command
        .arg(script("mavsdk_ftp_server.py"))
        .arg("--root")
        .arg(root)
        .arg("--url")
        .arg(url)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn mavsdk_ftp_server.py");
    let stdin = child.stdin.take();
    let stdout: ChildStdout = child.stdout.take().expect("stdout");
    let mut guard = ChildGuard { child, stdin };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if line.trim() == "READY" {
                let _ = tx.send(());
            }
            line.clear();
        }
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let status = guard.child.try_wait();
        panic!("MAVSDK FtpServer did not print READY within 30 s (status {status:?})");
    }
    guard
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
        self.string_field("result").unwrap_or_default()
    }

    /// A top-level string field of the JSON line (no escapes beyond \" and \\).
    pub fn string_field(&self, key: &str) -> Option<String> {
        let pat = format!("\"{key}\": \"");
        let start = self.line.find(&pat)? + pat.len();
        let mut out = String::new();
        let mut chars = self.line[start..].chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return Some(out),
                c => out.push(c),
            }
        }
        None
    }

    /// A top-level number or boolean field, as text.
    pub fn raw_field(&self, key: &str) -> Option<String> {
        let pat = format!("\"{key}\": ");
        let start = self.line.find(&pat)? + pat.len();
        let rest = &self.line[start..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    }

    /// Panics with the full answer unless `result` is `want`.
    pub fn expect_result(&self, want: &str) -> &Self {
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

/// Deterministic file content of `len` bytes (differs per `seed`).
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
