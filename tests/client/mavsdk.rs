//! MAVSDK 4.1's FtpServer as a peer of our client (tests/interop/
//! mavsdk_ftp_server.py in the venv): started over a directory, killed with
//! the test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};
use std::time::Duration;

pub use crate::child::ChildGuard;
use crate::peers::script;
use crate::venv::venv_python;

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    crate::port::free_udp_port().expect("bind an ephemeral port")
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
