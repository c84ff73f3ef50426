//! MAVSDK 4.1's FtpServer as a peer of our client (tests/common/mavsdk_peer.rs),
//! also run as user `nobody`, and free ports for it.

use std::path::Path;
use std::process::Command;

pub use crate::child::ChildGuard;
pub use crate::mavsdk_peer::start_mavsdk_server;
use crate::mavsdk_peer::start_mavsdk_server_with;
use crate::venv::venv_python;

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    crate::port::free_udp_port().expect("bind an ephemeral port")
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
