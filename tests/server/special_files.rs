//! Special files in the served root — a FIFO, a socket, device nodes, a
//! symlink to one of them that stays inside the root — never block a worker
//! or the server: every request that would open one is answered at once
//! (NAK FailErrno EINVAL), listings show them as `S` placeholders, and the
//! server keeps serving (a download afterwards is byte-exact). Opening a FIFO
//! without O_NONBLOCK waits for its other end: a few such requests would
//! hold every worker forever.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mavftp::Server;
use mavftp::protocol::{FtpPacket, ListingEntry, NakCode, Opcode, parse_listing};

use crate::support::*;

/// How long a refusal may take (a busy 2-core machine; a blocked open never answers).
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// The regular file downloaded after each refusal.
const DATA_LEN: usize = 20_000;

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o666) };
    assert_eq!(
        rc,
        0,
        "mkfifo {path:?}: {}",
        std::io::Error::last_os_error()
    );
}

/// A character device node like /dev/`name` (major 1); false when this
/// process may not make device nodes.
fn mknod_char(path: &Path, minor: u32) -> bool {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, minor)) };
    rc == 0
}

/// A server over a root holding `data.bin`, a directory `dir/` and a FIFO
/// `fifo` (plus whatever a test adds). Dropping it first opens every FIFO
/// of the root from both ends again and again until the server has stopped:
/// without the fix a worker waits in `open` for ever, and the server's drop
/// with it, so a failing test would hang instead of failing.
struct FifoRoot {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    data: Vec<u8>,
    hub: Hub,
    server: Option<Server>,
}

impl FifoRoot {
    fn new() -> FifoRoot {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("dir")).unwrap();
        let data = pattern(DATA_LEN, 7);
        fs::write(root.join("data.bin"), &data).unwrap();
        fs::write(root.join("dir/small.txt"), b"small").unwrap();
        mkfifo(&root.join("fifo"));
        let hub = Hub::new();
        let server = Server::new(&hub.server, &root).unwrap();
        FifoRoot {
            _tmp: tmp,
            root,
            data,
            hub,
            server: Some(server),
        }
    }

    /// The server still serves: a download of `data.bin` is byte-exact.
    fn assert_still_serving(&self, r: &mut Requester) {
        let started = Instant::now();
        assert!(read_whole(r, "data.bin") == self.data, "download differs");
        assert!(
            started.elapsed() < ANSWER_WITHIN * 2,
            "download took {:?}",
            started.elapsed()
        );
    }
}

impl Drop for FifoRoot {
    fn drop(&mut self) {
        let fifos: Vec<PathBuf> = fs::read_dir(&self.root)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_fifo()))
            .map(|e| e.path())
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_keeper = Arc::clone(&stop);
        let keeper = std::thread::spawn(move || {
            while !stop_keeper.load(Ordering::SeqCst) {
                // Read-write opens of a FIFO never block (Linux) and are
                // both ends at once: a blocked reader or writer goes on.
                let open: Vec<_> = fifos
                    .iter()
                    .filter_map(|f| {
                        OpenOptions::new()
                            .read(true)
                            .write(true)
                            .custom_flags(libc::O_NONBLOCK)
                            .open(f)
                            .ok()
                    })
                    .collect();
                std::thread::sleep(Duration::from_millis(10));
                drop(open);
            }
        });
        drop(self.server.take());
        stop.store(true, Ordering::SeqCst);
        let _ = keeper.join();
    }
}

/// Send a request and wait at most [`ANSWER_WITHIN`] for its reply.
fn answer_within(r: &mut Requester, op: Opcode, offset: u32, data: &[u8]) -> FtpPacket {
    let p = r.req(op, 0, offset, data);
    r.send_raw(&p);
    let started = Instant::now();
    loop {
        let left = ANSWER_WITHIN.saturating_sub(started.elapsed());
        let Some(reply) = r.recv(left) else {
            panic!(
                "{op:?} {:?}: no answer within {ANSWER_WITHIN:?}",
                String::from_utf8_lossy(data)
            );
        };
        if reply.seq == p.seq.wrapping_add(1) && reply.req_opcode == op {
            return reply;
        }
    }
}

/// `op` on `path` is answered at once with NAK FailErrno `errno`.
fn assert_refused(r: &mut Requester, op: Opcode, path: &str, errno: i32) {
    let reply = answer_within(r, op, 0, path.as_bytes());
    assert_eq!(reply.opcode, Opcode::Nak, "{op:?} {path}: {reply:?}");
    assert_eq!(
        (reply.nak_code(), reply.nak_errno()),
        (Some(NakCode::FailErrno), Some(errno as u8)),
        "{op:?} {path}: {reply:?}"
    );
}

/// Every opcode that opens the file its path names.
const OPENING_OPS: [Opcode; 5] = [
    Opcode::OpenFileRO,
    Opcode::CalcFileCRC32,
    Opcode::TruncateFile,
    Opcode::OpenFileWO,
    Opcode::CreateFile,
];

/// Each of [`OPENING_OPS`] on `path` is answered at once with NAK FailErrno EINVAL.
fn assert_every_open_refused(r: &mut Requester, path: &str) {
    for op in OPENING_OPS {
        assert_refused(r, op, path, libc::EINVAL);
    }
}

/// `op` on the FIFO, more times than there are workers (each would be held
/// for ever), is refused at once every time; then the server still serves.
fn assert_fifo_refused_repeatedly(op: Opcode, path: &str, sys: u8) {
    let fx = FifoRoot::new();
    let mut r = fx.hub.requester(sys, 190);
    for _ in 0..3 {
        assert_refused(&mut r, op, path, libc::EINVAL);
    }
    fx.assert_still_serving(&mut r);
}

#[test]
fn open_file_ro_of_a_fifo_is_refused_at_once_and_the_server_keeps_serving() {
    assert_fifo_refused_repeatedly(Opcode::OpenFileRO, "fifo", 210);
}

#[test]
fn calc_file_crc32_of_a_fifo_is_refused_at_once_and_the_server_keeps_serving() {
    assert_fifo_refused_repeatedly(Opcode::CalcFileCRC32, "/fifo", 211);
}

#[test]
fn truncate_file_of_a_fifo_is_refused_at_once_and_the_server_keeps_serving() {
    assert_fifo_refused_repeatedly(Opcode::TruncateFile, "fifo", 212);
}

#[test]
fn open_file_wo_and_create_file_of_a_fifo_are_refused_and_leave_no_session_to_write() {
    let fx = FifoRoot::new();
    let mut r = fx.hub.requester(213, 190);
    assert_refused(&mut r, Opcode::OpenFileWO, "fifo", libc::EINVAL);
    assert_refused(&mut r, Opcode::CreateFile, "fifo", libc::EINVAL);
    let write = answer_within(&mut r, Opcode::WriteFile, 0, b"bytes");
    assert_eq!(write.nak_code(), Some(NakCode::InvalidSession), "{write:?}");
    let md = fs::symlink_metadata(fx.root.join("fifo")).unwrap();
    assert!(md.file_type().is_fifo(), "the FIFO was replaced");
    fx.assert_still_serving(&mut r);
}

#[test]
fn a_symlink_to_a_fifo_inside_the_root_is_refused_like_the_fifo() {
    let fx = FifoRoot::new();
    std::os::unix::fs::symlink(fx.root.join("fifo"), fx.root.join("dir/to_fifo")).unwrap();
    let mut r = fx.hub.requester(214, 190);
    assert_every_open_refused(&mut r, "dir/to_fifo");
    fx.assert_still_serving(&mut r);
}

#[test]
fn listings_of_a_directory_with_a_fifo_and_of_the_fifo_itself_answer_at_once() {
    let fx = FifoRoot::new();
    let mut r = fx.hub.requester(215, 190);
    for op in [Opcode::ListDirectory, Opcode::ListDirectoryWithTime] {
        let list = answer_within(&mut r, op, 0, b"/");
        assert!(is_ack(&list), "{op:?}: {list:?}");
        let (entries, _) = parse_listing(&list.data);
        // data.bin, dir, fifo (a placeholder keeps the indices)
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert_eq!(entries[2], ListingEntry::Skip, "{entries:?}");
        assert_refused(&mut r, op, "fifo", libc::ENOTDIR);
    }
    fx.assert_still_serving(&mut r);
}

#[test]
fn a_fifo_can_be_renamed_and_removed_like_any_file() {
    let fx = FifoRoot::new();
    let mut r = fx.hub.requester(218, 190);
    let moved = answer_within(&mut r, Opcode::Rename, 0, b"fifo\0dir/moved");
    assert!(is_ack(&moved), "{moved:?}");
    assert!(
        fs::symlink_metadata(fx.root.join("dir/moved"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let removed = answer_within(&mut r, Opcode::RemoveFile, 0, b"dir/moved");
    assert!(is_ack(&removed), "{removed:?}");
    assert!(!fx.root.join("dir/moved").exists());
    fx.assert_still_serving(&mut r);
}

#[test]
fn a_socket_in_the_root_is_refused_with_einval() {
    let fx = FifoRoot::new();
    let _listener = std::os::unix::net::UnixListener::bind(fx.root.join("sock")).unwrap();
    let mut r = fx.hub.requester(216, 190);
    assert_every_open_refused(&mut r, "sock");
    fx.assert_still_serving(&mut r);
}

/// Device nodes are refused before they are opened (opening one can act:
/// a tty, a watchdog), and the CRC of an endless one (like /dev/zero) no
/// longer runs for ever. Needs CAP_MKNOD; without it the test says so and
/// checks nothing.
#[test]
fn device_nodes_in_the_root_are_refused_before_they_are_opened() {
    let fx = FifoRoot::new();
    if !mknod_char(&fx.root.join("null"), 3) || !mknod_char(&fx.root.join("zero"), 5) {
        eprintln!("device_nodes_in_the_root: cannot make device nodes here, nothing checked");
        return;
    }
    let mut r = fx.hub.requester(217, 190);
    for path in ["null", "zero"] {
        assert_every_open_refused(&mut r, path);
    }
    fx.assert_still_serving(&mut r);
}

/// The denial of service itself: many peers ask to open and CRC the FIFO
/// at once; a legitimate peer's download is still answered at once.
#[test]
fn fifo_requests_from_many_peers_leave_the_workers_free_for_a_download() {
    let fx = FifoRoot::new();
    let mut attackers: Vec<Requester> = (0..6).map(|i| fx.hub.requester(220 + i, 190)).collect();
    let mut sent = Vec::new();
    for (i, a) in attackers.iter_mut().enumerate() {
        for op in OPENING_OPS {
            let p = a.req(op, 0, 0, b"fifo");
            a.send_raw(&p);
            sent.push((i, p));
        }
    }
    let mut r = fx.hub.requester(219, 190);
    fx.assert_still_serving(&mut r);
    let deadline = Instant::now() + ANSWER_WITHIN;
    for (i, p) in sent {
        let a = &attackers[i];
        let reply = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = a
                .recv(left)
                .unwrap_or_else(|| panic!("peer {i}: no answer to {:?}", p.opcode));
            if reply.seq == p.seq.wrapping_add(1) {
                break reply;
            }
        };
        assert_eq!(
            (reply.nak_code(), reply.nak_errno()),
            (Some(NakCode::FailErrno), Some(libc::EINVAL as u8)),
            "peer {i} {:?}: {reply:?}",
            p.opcode
        );
    }
}
