//! Client target: a [`Client`] runs one operation against our [`Server`]
//! (the correct server) over two custom links, while fuzz bytes decide what
//! happens to every frame in between.
//!
//! The oracle: the client may fail, but SUCCESS must carry exactly what the
//! correct server serves (the file's bytes, the directory's entries, the
//! true CRC comparison, or for an upload the server's copy equal to the
//! local file), and a failed download leaves nothing in the local directory.
//! To keep that oracle sound, the man in the middle may only do what no
//! client can be fooled by:
//! - drop, duplicate or delay (hold until after the next frame) server frames,
//!   and drop requests (not during uploads: a WriteFile ACK carries no data,
//!   so a re-numbered ACK for a lost write would be a perfect forgery);
//! - inject copies of genuine replies with ONE header field changed: seq
//!   (ACKs only: a re-numbered NAK EOF would be a forged end of file; not of
//!   listing ACKs: servers need not echo a listing's offset, so a re-numbered
//!   one could not be told apart), session,
//!   req_opcode, offset (not of burst data, whose offset says where the data
//!   goes), opcode to a request opcode, the sender's ids or the target ids.
//!   Each copy either matches no request, or is still the true answer to
//!   the request it matches, or says in its own header (the offset of a
//!   ReadFile ACK, burst data) which request it answers;
//! - inject frames from other systems/components, frames with request
//!   opcodes, and frames whose size field is 240–255, with any content.
//!
//! Data bytes are never altered: the MAVLink CRC protects them, and a
//! changed byte in a genuine-looking reply is a forgery no client can detect.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mavftp::link::{FrameSink, WeakLink};
use mavftp::protocol::{FtpPacket, Opcode, PAYLOAD_LEN};
use mavftp::{Client, EntryKind, Link, Server};

use super::input::Bytes;
use super::wire::{FTP_ID, ftp_frame, valid_frame_at};

/// Our client's own ids and the server's.
pub const CLIENT_IDS: (u8, u8) = (245, 190);
pub const SERVER_IDS: (u8, u8) = (1, 1);
/// Sizes of the served file (selected by the second input byte).
pub const FILE_SIZES: [usize; 7] = [0, 1, 239, 240, 1000, 4000, 10_000];
/// An operation that takes longer than this is reported as a hang.
pub const OP_BUDGET: Duration = Duration::from_secs(20);

/// The operation of a case (first input byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    DownloadPlain,
    DownloadBurst,
    List,
    CrcSame,
    CrcDifferent,
    Upload,
}

pub const OPS: [Op; 6] = [
    Op::DownloadPlain,
    Op::DownloadBurst,
    Op::List,
    Op::CrcSame,
    Op::CrcDifferent,
    Op::Upload,
];

/// Reply decisions come from the front of the input, request decisions from
/// the back; both end in "deliver unchanged" when the bytes run out.
struct Mitm {
    data: Vec<u8>,
    front: usize,
    back: usize,
    held: Vec<Vec<u8>>,
    drop_requests: bool,
}

impl Mitm {
    fn front_byte(&mut self) -> Option<u8> {
        if self.front >= self.back {
            return None;
        }
        self.front += 1;
        Some(self.data[self.front - 1])
    }

    fn back_byte(&mut self) -> Option<u8> {
        if self.back <= self.front {
            return None;
        }
        self.back -= 1;
        Some(self.data[self.back])
    }

    fn front_or0(&mut self) -> u8 {
        self.front_byte().unwrap_or(0)
    }

    /// What reaches the client for one frame the server sent.
    fn on_server_frame(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        // Heartbeats pass without using a decision.
        let Some(parsed) = valid_frame_at(frame, 0).filter(|f| f.message_id == FTP_ID) else {
            return vec![frame.to_vec()];
        };
        let Some(b) = self.front_byte() else {
            let mut out = std::mem::take(&mut self.held);
            out.insert(0, frame.to_vec());
            return out;
        };
        let (ts, tc, ftp) = parsed.ftp_parts();
        let Some(packet) = FtpPacket::decode(ftp) else {
            return vec![frame.to_vec()];
        };
        let mut out = Vec::new();
        match b & 3 {
            0 => out.push(frame.to_vec()),
            1 => {}
            2 => {
                out.push(frame.to_vec());
                out.push(frame.to_vec());
            }
            _ => {
                self.held.push(frame.to_vec());
                return out;
            }
        }
        out.append(&mut self.held);
        match (b >> 2) & 7 {
            4 => out.push(self.mutated_copy(&packet, (ts, tc))),
            5 => {
                // Any content from another system or component.
                let mut sys = self.front_or0();
                let comp = self.front_or0();
                if (sys, comp) == SERVER_IDS {
                    sys = 2;
                }
                let payload = self.fuzz_payload();
                out.push(ftp_frame(sys, comp, ts, tc, &payload));
            }
            6 => {
                // A size field of 240–255 (the link must drop it).
                let mut wire = packet.encode();
                wire[4] = 240 + self.front_or0() % 16;
                out.push(ftp_frame(SERVER_IDS.0, SERVER_IDS.1, ts, tc, &wire));
            }
            7 => {
                // Any content with a request opcode, from the server's ids.
                let mut payload = self.fuzz_payload();
                payload.resize(PAYLOAD_LEN, 0);
                payload[3] = self.front_or0() % 17;
                out.push(ftp_frame(SERVER_IDS.0, SERVER_IDS.1, ts, tc, &payload));
            }
            _ => {}
        }
        out
    }

    fn fuzz_payload(&mut self) -> Vec<u8> {
        let n = self.front_or0() as usize;
        (0..n).map_while(|_| self.front_byte()).collect()
    }

    /// A copy of a genuine reply with one header field changed (see the module doc).
    fn mutated_copy(&mut self, packet: &FtpPacket, to: (u8, u8)) -> Vec<u8> {
        let mut p = packet.clone();
        let (mut from, mut to) = (SERVER_IDS, to);
        let v = self.front_or0();
        let burst_data = p.req_opcode == Opcode::BurstReadFile;
        let listing = matches!(
            p.req_opcode,
            Opcode::ListDirectory | Opcode::ListDirectoryWithTime
        );
        match self.front_or0() % 8 {
            0 | 1 if p.opcode == Opcode::Ack && !listing => {
                let delta = 1 + v as u16;
                p.seq = if v & 1 == 0 {
                    p.seq.wrapping_add(delta)
                } else {
                    p.seq.wrapping_sub(delta)
                };
            }
            0..=2 => p.session ^= v.max(1),
            3 => {
                let other = Opcode::from_u8(v);
                p.req_opcode = if other == p.req_opcode {
                    Opcode::from_u8(v.wrapping_add(1))
                } else {
                    other
                };
            }
            4 if !burst_data => {
                let delta = 1 + v as u32;
                p.offset = p.offset.wrapping_add(delta.wrapping_mul(239));
            }
            4 => p.burst_complete = !p.burst_complete,
            5 => p.opcode = Opcode::from_u8(v % 17),
            6 => {
                from = if v & 1 == 0 {
                    (SERVER_IDS.0, v | 2)
                } else {
                    (v | 2, SERVER_IDS.1)
                };
            }
            _ => to = (to.0, to.1.wrapping_add(1 + v % 8)),
        }
        ftp_frame(from.0, from.1, to.0, to.1, &p.encode())
    }

    /// Whether a request the client sent reaches the server.
    fn deliver_request(&mut self, frame: &[u8]) -> bool {
        let is_ftp = valid_frame_at(frame, 0).is_some_and(|f| f.message_id == FTP_ID);
        if !is_ftp || !self.drop_requests {
            return true;
        }
        self.back_byte().is_none_or(|b| b % 8 != 7)
    }
}

/// Sink of one direction: decide under the lock, feed outside it.
fn relay(
    mitm: &Arc<Mutex<Mitm>>,
    to: &Arc<Mutex<Option<WeakLink>>>,
    from_server: bool,
) -> FrameSink {
    let (mitm, to) = (Arc::clone(mitm), Arc::clone(to));
    Box::new(move |frame: &[u8]| {
        let out = {
            let mut m = mitm.lock().expect("mitm");
            if from_server {
                m.on_server_frame(frame)
            } else if m.deliver_request(frame) {
                vec![frame.to_vec()]
            } else {
                Vec::new()
            }
        };
        let peer = to
            .lock()
            .expect("slot")
            .as_ref()
            .and_then(WeakLink::upgrade);
        if let Some(peer) = peer {
            for f in out {
                let _ = peer.feed(&f);
            }
        }
    })
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(167).wrapping_add(seed as u32) as u8 ^ (i >> 8) as u8)
        .collect()
}

fn entries_of(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

/// Run one client case (see the module doc).
pub fn client_replies(data: &[u8]) {
    let mut input = Bytes::new(data);
    let op = OPS[input.u8_or0() as usize % OPS.len()];
    let size = FILE_SIZES[input.u8_or0() as usize % FILE_SIZES.len()];
    let decisions = input.rest().to_vec();

    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let local = dir.path().join("local");
    std::fs::create_dir_all(root.join("d/sub1")).expect("mkdir");
    std::fs::create_dir_all(root.join("d/sub2")).expect("mkdir");
    std::fs::create_dir_all(&local).expect("mkdir");
    let served = pattern(size, 1);
    std::fs::write(root.join("f.bin"), &served).expect("write");
    std::fs::write(root.join("d/one.txt"), b"one").expect("write");
    std::fs::write(root.join("d/two.bin"), pattern(500, 2)).expect("write");
    let up = dir.path().join("up.bin");
    std::fs::write(&up, pattern(size, 3)).expect("write");
    let same = dir.path().join("same.bin");
    std::fs::write(&same, &served).expect("write");
    let other = dir.path().join("other.bin");
    let mut different = served.clone();
    match different.last_mut() {
        Some(b) => *b ^= 0x5A,
        None => different.push(1),
    }
    std::fs::write(&other, &different).expect("write");

    let back = decisions.len();
    let mitm = Arc::new(Mutex::new(Mitm {
        data: decisions,
        front: 0,
        back,
        held: Vec::new(),
        drop_requests: op != Op::Upload,
    }));
    let to_client: Arc<Mutex<Option<WeakLink>>> = Arc::default();
    let to_server: Arc<Mutex<Option<WeakLink>>> = Arc::default();
    let server_link = Link::open_custom(SERVER_IDS.0, SERVER_IDS.1, relay(&mitm, &to_client, true))
        .expect("server link");
    let client_link =
        Link::open_custom(CLIENT_IDS.0, CLIENT_IDS.1, relay(&mitm, &to_server, false))
            .expect("client link");
    *to_client.lock().expect("slot") = Some(client_link.downgrade());
    *to_server.lock().expect("slot") = Some(server_link.downgrade());
    let server = Server::new(&server_link, &root).expect("server");
    let client = Client::new(&client_link, SERVER_IDS.0, SERVER_IDS.1).expect("client");
    client.set_timeout(Duration::from_millis(40), 3);

    let started = Instant::now();
    match op {
        Op::DownloadPlain | Op::DownloadBurst => {
            let result = client.download("/f.bin", &local, op == Op::DownloadBurst, None);
            match result {
                Ok(()) => {
                    assert_eq!(entries_of(&local), vec![local.join("f.bin")]);
                    let got = std::fs::read(local.join("f.bin")).expect("read");
                    assert!(
                        got == served,
                        "{op:?} of {size} B reported SUCCESS with wrong bytes ({} B, first difference at {:?})",
                        got.len(),
                        got.iter().zip(&served).position(|(a, b)| a != b)
                    );
                }
                Err(_) => assert_eq!(
                    entries_of(&local),
                    Vec::<PathBuf>::new(),
                    "a failed download leaves nothing behind"
                ),
            }
        }
        Op::List => {
            if let Ok(listing) = client.list_directory("/d") {
                let got: Vec<(String, EntryKind, u64)> = listing
                    .entries
                    .iter()
                    .map(|e| (e.name.clone(), e.kind, e.size_bytes))
                    .collect();
                let want = vec![
                    ("one.txt".to_string(), EntryKind::File, 3),
                    ("sub1".to_string(), EntryKind::Directory, 0),
                    ("sub2".to_string(), EntryKind::Directory, 0),
                    ("two.bin".to_string(), EntryKind::File, 500),
                ];
                assert_eq!(got, want, "listing reported SUCCESS with wrong entries");
            }
        }
        Op::CrcSame | Op::CrcDifferent => {
            let local_file = if op == Op::CrcSame { &same } else { &other };
            if let Ok(identical) = client.are_files_identical(local_file, "/f.bin") {
                assert_eq!(identical, op == Op::CrcSame, "CRC comparison");
            }
        }
        Op::Upload => {
            if client.upload(&up, "/", None).is_ok() {
                let got = std::fs::read(root.join("up.bin")).expect("uploaded file");
                assert!(
                    got == std::fs::read(&up).expect("read"),
                    "upload of {size} B reported SUCCESS but the server holds other bytes ({} B)",
                    got.len()
                );
            }
        }
    }
    let took = started.elapsed();
    assert!(took < OP_BUDGET, "{op:?} took {took:?} (hang?)");
    drop(client);
    drop(server);
    drop(client_link);
    drop(server_link);
}
