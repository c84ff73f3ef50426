//! Server target: a [`Server`] on a custom link fed requests built from fuzz
//! bytes by four peers, over a root that holds symlinks pointing out of it.
//!
//! Invariants: every frame the server sends is a valid FTP ACK/NAK (or a
//! heartbeat) from 1:1 to a peer that addressed it; a peer that only sends
//! to another system or component never gets an answer; no reply carries a
//! byte of the file or the name outside the root (a random canary); nothing
//! outside the root changes and the root stays; after the input a fresh
//! peer's ListDirectory is still answered (no hang, no starvation); dropping
//! the server returns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mavftp::link::FrameSink;
use mavftp::protocol::{FtpPacket, MAX_DATA, Opcode};
use mavftp::{Link, Server};

use super::input::Bytes;
use super::wire::{FTP_ID, ftp_frame, valid_frame_at};

/// Request senders: (system, component). The last one addresses only other
/// systems or components, so it must never be answered.
pub const PEERS: [(u8, u8); 4] = [(10, 10), (11, 20), (10, 11), (12, 12)];
const UNADDRESSED_PEER: usize = 3;
/// The peer of the liveness probe.
const PROBE_PEER: (u8, u8) = (99, 99);

/// A random token that fuzz input cannot contain by chance.
fn canary() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = mavftp::link::sim::SplitMix64::new(nanos ^ std::process::id() as u64);
    format!("CANARY{:016x}", rng.next_u64())
}

/// base/root (served) next to base/outside (must stay untouched).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub canary: String,
    outside_before: BTreeMap<PathBuf, (bool, Vec<u8>)>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        let canary = canary();
        let mk = |p: &Path| std::fs::create_dir_all(p).expect("mkdir");
        mk(&root.join("sub/deeper"));
        mk(&root.join("empty"));
        mk(&outside.join("inner"));
        let write = |p: PathBuf, data: &[u8]| std::fs::write(p, data).expect("write");
        write(root.join("a.txt"), &b"hello from the root\n".repeat(4));
        write(
            root.join("big.bin"),
            &(0..3000u32)
                .map(|i| (i * 7 % 251) as u8)
                .collect::<Vec<_>>(),
        );
        write(root.join("sub/b.txt"), b"b");
        write(outside.join("secret.txt"), canary.repeat(64).as_bytes());
        write(outside.join(format!("{canary}.txt")), canary.as_bytes());
        write(outside.join("inner/x"), canary.as_bytes());
        let link = |target: &str, name: &str| {
            std::os::unix::fs::symlink(target, root.join(name)).expect("symlink")
        };
        link("a.txt", "link_in");
        link("../outside", "link_out");
        link("../outside/secret.txt", "link_out_file");
        link("../outside/new_file", "link_dangling");
        let outside_before = snapshot(dir.path(), &root);
        Fixture {
            dir,
            root,
            canary,
            outside_before,
        }
    }

    /// Nothing outside the root changed, the root is still a directory.
    pub fn check_outside_unchanged(&self) {
        let now = snapshot(self.dir.path(), &self.root);
        assert_eq!(
            now.keys().collect::<Vec<_>>(),
            self.outside_before.keys().collect::<Vec<_>>(),
            "entries outside the root changed"
        );
        assert!(
            now == self.outside_before,
            "a file outside the root changed"
        );
        assert!(self.root.is_dir(), "the root is gone");
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// Every path under `base` except inside `root`: (is_dir, content).
fn snapshot(base: &Path, root: &Path) -> BTreeMap<PathBuf, (bool, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![base.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path == root {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                stack.push(path.clone());
                out.insert(path, (true, Vec::new()));
            } else if meta.file_type().is_symlink() {
                out.insert(path.clone(), (false, b"symlink".to_vec()));
            } else {
                let data = std::fs::read(&path).expect("read");
                out.insert(path, (false, data));
            }
        }
    }
    out
}

/// The frames a link sent, each as one valid frame (decoded by the reference).
#[derive(Clone, Default)]
pub struct Sent(pub Arc<Mutex<Vec<Vec<u8>>>>);

impl Sent {
    pub fn sink(&self) -> FrameSink {
        let frames = Arc::clone(&self.0);
        Box::new(move |f: &[u8]| frames.lock().expect("sent").push(f.to_vec()))
    }

    pub fn len(&self) -> usize {
        self.0.lock().expect("sent").len()
    }

    /// FTP replies from index `from` on: (target sys, target comp, packet).
    pub fn ftp_since(&self, from: usize) -> Vec<(u8, u8, FtpPacket)> {
        let frames = self.0.lock().expect("sent");
        frames[from.min(frames.len())..]
            .iter()
            .filter_map(|f| {
                let frame = valid_frame_at(f, 0)?;
                if frame.message_id != FTP_ID {
                    return None;
                }
                let (ts, tc, ftp) = frame.ftp_parts();
                Some((ts, tc, FtpPacket::decode(ftp)?))
            })
            .collect()
    }
}

/// Wait up to `limit` for an FTP reply to `peer` with sequence `seq`.
fn wait_reply(sent: &Sent, from: usize, peer: (u8, u8), seq: u16, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if sent
            .ftp_since(from)
            .iter()
            .any(|(ts, tc, p)| (*ts, *tc) == peer && p.seq == seq)
        {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_micros(300));
    }
}

/// One request record: ctrl byte (bits 0-1 peer, bit 2 target component 0
/// instead of 1, bit 3 do not wait for the reply), then the 12-byte FTP
/// header as sent (its size byte may claim up to 255) and min(size, 239) data bytes.
pub fn requests(data: &[u8]) -> Vec<(usize, bool, bool, Vec<u8>)> {
    let mut input = Bytes::new(data);
    let mut out = Vec::new();
    while let Some(ctrl) = input.u8() {
        let mut payload = input.take(12).to_vec();
        payload.resize(12, 0);
        let n = (payload[4] as usize).min(MAX_DATA);
        payload.extend_from_slice(input.take(n));
        out.push(((ctrl & 3) as usize, ctrl & 4 != 0, ctrl & 8 == 0, payload));
        if out.len() >= 64 {
            break;
        }
    }
    out
}

/// Encode one request record (the inverse of [`requests`], for seeds).
pub fn request_record(peer: usize, broadcast: bool, wait: bool, packet: &FtpPacket) -> Vec<u8> {
    let mut out = vec![peer as u8 | (broadcast as u8) << 2 | (!wait as u8) << 3];
    let wire = packet.encode();
    out.extend_from_slice(&wire[..12 + packet.data.len()]);
    out
}

/// Run one server case.
pub fn server_requests(data: &[u8]) {
    let fixture = Fixture::new();
    let sent = Sent::default();
    let link = Link::open_custom(1, 1, sent.sink()).expect("server link");
    let server = Server::new(&link, &fixture.root).expect("server");
    let mut answered_peers = [false; 4];
    for (peer, broadcast, wait, payload) in requests(data) {
        let (sys, comp) = PEERS[peer];
        let (ts, tc) = if peer == UNADDRESSED_PEER {
            if broadcast { (2, 1) } else { (1, 2) }
        } else {
            answered_peers[peer] = true;
            (1, if broadcast { 0 } else { 1 })
        };
        let before = sent.len();
        link.feed(&ftp_frame(sys, comp, ts, tc, &payload))
            .expect("feed");
        if wait && peer != UNADDRESSED_PEER {
            let seq = u16::from_le_bytes([payload[0], payload[1]]).wrapping_add(1);
            wait_reply(&sent, before, (sys, comp), seq, Duration::from_millis(30));
        }
    }
    // Liveness: a fresh peer is still answered.
    let mut probe = FtpPacket::request(Opcode::ListDirectory, 0x7000);
    probe.data = b"/".to_vec();
    let before = sent.len();
    link.feed(&ftp_frame(
        PROBE_PEER.0,
        PROBE_PEER.1,
        1,
        1,
        &probe.encode(),
    ))
    .expect("feed");
    assert!(
        wait_reply(&sent, before, PROBE_PEER, 0x7001, Duration::from_secs(3)),
        "the server did not answer a fresh peer's ListDirectory within 3 s after the input"
    );
    drop(server);
    drop(link);

    let frames = sent.0.lock().expect("sent").clone();
    for f in &frames {
        let frame = valid_frame_at(f, 0).unwrap_or_else(|| panic!("invalid frame sent: {f:02x?}"));
        assert_eq!(frame.len, f.len(), "one frame per send");
        assert_eq!((frame.sys, frame.comp), (1, 1), "sender ids");
        assert!(
            frame.message_id == 0 || frame.message_id == FTP_ID,
            "message {}",
            frame.message_id
        );
        if frame.message_id != FTP_ID {
            continue;
        }
        let (ts, tc, ftp) = frame.ftp_parts();
        let packet = FtpPacket::decode(ftp).expect("the server's packets decode");
        let to = (ts, tc);
        let addressed = PEERS
            .iter()
            .zip(answered_peers)
            .any(|(p, asked)| asked && *p == to)
            || to == PROBE_PEER;
        assert!(
            addressed,
            "a reply went to {to:?}, which asked nothing: {packet:?}"
        );
        assert!(packet.opcode.is_reply(), "not a reply: {packet:?}");
        let canary = fixture.canary.as_bytes();
        assert!(
            !packet.data.windows(canary.len()).any(|w| w == canary),
            "a reply carries data from outside the root: {packet:?}"
        );
    }
    fixture.check_outside_unchanged();
}
