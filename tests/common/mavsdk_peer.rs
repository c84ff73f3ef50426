//! MAVSDK 4.1's FtpServer as a peer (tests/interop/mavsdk_ftp_server.py in
//! the venv): started over a directory, killed with the test. Included
//! (`#[path]`, as `mavsdk_peer`) by the test binaries that run it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::child::ChildGuard;
use crate::venv::{repo, venv_python};

/// Starts MAVSDK's FtpServer over `root`, talking `url` (from the server's
/// side, e.g. `udpout://127.0.0.1:P`), and waits for its READY line.
pub fn start_mavsdk_server(root: &Path, url: &str, extra: &[&str]) -> ChildGuard {
    start_mavsdk_server_with(Command::new(venv_python()), root, url, extra)
}

/// [`start_mavsdk_server`] run by `command` (the venv's python, or a
/// wrapper that starts it).
pub fn start_mavsdk_server_with(
    command: Command,
    root: &Path,
    url: &str,
    extra: &[&str],
) -> ChildGuard {
    start_server_driver(command, "mavsdk_ftp_server.py", root, url, extra)
}

/// Starts the FtpServer driver `script` (in tests/interop/) with `command`
/// over `root`, talking `url`, and waits for its READY line (mavsdk_server
/// starts within seconds, up to a minute on a loaded machine).
pub fn start_server_driver(
    mut command: Command,
    script: &str,
    root: &Path,
    url: &str,
    extra: &[&str],
) -> ChildGuard {
    let mut child = command
        .arg(repo().join("tests/interop").join(script))
        .arg("--root")
        .arg(root)
        .arg("--url")
        .arg(url)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {script}: {e}"));
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
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let status = guard.child.try_wait();
        panic!("{script} did not print READY within 60 s (status {status:?})");
    }
    guard
}
