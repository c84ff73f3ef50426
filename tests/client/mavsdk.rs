//! MAVSDK 4.1's FtpServer as a peer of our client (tests/interop/
//! mavsdk_ftp_server.py in the venv): started over a directory, killed with
//! the test.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::peers::script;
use crate::venv::venv_python;

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
    let mut child = Command::new(venv_python())
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
