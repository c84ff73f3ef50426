//! Shared helpers for the server tests (also compiled on its own: no tests).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mavftp::link::{FtpSubscription, IncomingFtp, Link, WeakLink};
use mavftp::protocol::{FtpPacket, NakCode, Opcode};

pub const SERVER_SYS: u8 = 1;
pub const SERVER_COMP: u8 = 1;

/// A server-side custom link and any number of client custom links, all
/// connected in-process: what the server sends reaches every client.
pub struct Hub {
    pub server: Link,
    clients: Arc<Mutex<Vec<WeakLink>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        let clients: Arc<Mutex<Vec<WeakLink>>> = Arc::new(Mutex::new(Vec::new()));
        let to_clients = Arc::clone(&clients);
        let server = Link::open_custom(
            SERVER_SYS,
            SERVER_COMP,
            Box::new(move |bytes: &[u8]| {
                let list: Vec<WeakLink> = to_clients.lock().unwrap().clone();
                for c in list {
                    if let Some(c) = c.upgrade() {
                        let _ = c.feed(bytes);
                    }
                }
            }),
        )
        .unwrap();
        Hub { server, clients }
    }

    /// A requester with its own system/component id.
    pub fn requester(&self, sys: u8, comp: u8) -> Requester {
        let weak_server = self.server.downgrade();
        let link = Link::open_custom(
            sys,
            comp,
            Box::new(move |bytes: &[u8]| {
                if let Some(s) = weak_server.upgrade() {
                    let _ = s.feed(bytes);
                }
            }),
        )
        .unwrap();
        self.clients.lock().unwrap().push(link.downgrade());
        Requester::new(link, sys)
    }
}

/// A tiny test-only FTP requester: sends raw packets, receives replies.
pub struct Requester {
    pub link: Link,
    sub: FtpSubscription,
    pub seq: u16,
    pub target_comp: u8,
}

impl Requester {
    pub fn new(link: Link, own_sys: u8) -> Requester {
        let own_comp = link.own_component_id();
        let sub = link.subscribe(move |m: &IncomingFtp| {
            m.packet.opcode.is_reply()
                && m.target_system == own_sys
                && m.target_component == own_comp
        });
        Requester {
            link,
            sub,
            seq: 100,
            target_comp: SERVER_COMP,
        }
    }

    pub fn receiver(&self) -> &Receiver<IncomingFtp> {
        &self.sub.receiver
    }

    /// Send a packet as is.
    pub fn send_raw(&self, p: &FtpPacket) {
        self.link.send_ftp(SERVER_SYS, self.target_comp, p).unwrap();
    }

    /// Build a request with the next sequence number.
    pub fn req(&mut self, op: Opcode, session: u8, offset: u32, data: &[u8]) -> FtpPacket {
        self.seq = self.seq.wrapping_add(2);
        let mut p = FtpPacket::request(op, self.seq);
        p.session = session;
        p.offset = offset;
        p.data = data.to_vec();
        p
    }

    /// Receive the next reply (None after `timeout`).
    pub fn recv(&self, timeout: Duration) -> Option<FtpPacket> {
        self.sub
            .receiver
            .recv_timeout(timeout)
            .ok()
            .map(|m| m.packet)
    }

    /// Send and wait for the reply to this request (seq + 1).
    pub fn call_packet(&self, p: &FtpPacket) -> FtpPacket {
        self.send_raw(p);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = self
                .recv(left)
                .unwrap_or_else(|| panic!("no reply to {p:?}"));
            if reply.seq == p.seq.wrapping_add(1) && reply.req_opcode == p.opcode {
                return reply;
            }
        }
    }

    pub fn call(&mut self, op: Opcode, session: u8, offset: u32, data: &[u8]) -> FtpPacket {
        let p = self.req(op, session, offset, data);
        self.call_packet(&p)
    }

    /// Drain whatever replies are pending.
    pub fn drain(&self) {
        while self.recv(Duration::from_millis(50)).is_some() {}
    }
}

pub fn is_ack(p: &FtpPacket) -> bool {
    p.opcode == Opcode::Ack
}

/// Download a file with OpenFileRO + ReadFile; returns the bytes.
pub fn read_whole(r: &mut Requester, path: &str) -> Vec<u8> {
    let open = r.call(Opcode::OpenFileRO, 0, 0, path.as_bytes());
    assert!(is_ack(&open), "open {path}: {open:?}");
    let session = open.session;
    let mut out = Vec::new();
    loop {
        let reply = r.call(Opcode::ReadFile, session, out.len() as u32, &[0u8; 239]);
        if reply.opcode == Opcode::Nak {
            assert_eq!(reply.nak_code(), Some(NakCode::Eof));
            break;
        }
        assert_eq!(reply.offset as usize, out.len());
        out.extend_from_slice(&reply.data);
    }
    let t = r.call(Opcode::TerminateSession, session, 0, &[]);
    assert!(is_ack(&t));
    out
}

/// Deterministic test content, the same as the interop tests use.
pub use crate::content::pattern;

/// A requester that talks to a UDP server from its own socket (its own
/// route), as a separate ground-station process would: a custom link whose
/// frames go out of `socket` and whose received datagrams are fed back in.
pub struct UdpRequester {
    pub requester: Requester,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl UdpRequester {
    /// A requester with ids (sys, comp) on a fresh local port, talking to `server`.
    pub fn new(server: std::net::SocketAddr, sys: u8, comp: u8) -> UdpRequester {
        use std::sync::atomic::{AtomicBool, Ordering};
        let socket = std::sync::Arc::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let out = std::sync::Arc::clone(&socket);
        let link = Link::open_custom(
            sys,
            comp,
            Box::new(move |bytes: &[u8]| {
                let _ = out.send_to(bytes, server);
            }),
        )
        .unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (inp, feed, stop_reader) = (
            std::sync::Arc::clone(&socket),
            link.downgrade(),
            std::sync::Arc::clone(&stop),
        );
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop_reader.load(Ordering::SeqCst) {
                if let Ok((n, _)) = inp.recv_from(&mut buf) {
                    match feed.upgrade() {
                        Some(l) => {
                            let _ = l.feed(&buf[..n]);
                        }
                        None => return,
                    }
                }
            }
        });
        UdpRequester {
            requester: Requester::new(link, sys),
            stop,
            reader: Some(reader),
        }
    }
}

impl Drop for UdpRequester {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl std::ops::Deref for UdpRequester {
    type Target = Requester;
    fn deref(&self) -> &Requester {
        &self.requester
    }
}

impl std::ops::DerefMut for UdpRequester {
    fn deref_mut(&mut self) -> &mut Requester {
        &mut self.requester
    }
}

/// A MAVLink 2 frame (from sys/comp, sequence 0) carrying `payload` as
/// message `id`, with `crc_extra` — for sending hand-made frames.
pub fn mavlink2_frame(sys: u8, comp: u8, id: u32, crc_extra: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![
        0xFD,
        payload.len() as u8,
        0,
        0,
        0,
        sys,
        comp,
        id as u8,
        (id >> 8) as u8,
        (id >> 16) as u8,
    ];
    f.extend_from_slice(payload);
    let crc = mavlink::calculate_crc(&f[1..], crc_extra);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

/// A FILE_TRANSFER_PROTOCOL frame whose 251-byte FTP payload is `ftp` as
/// given (any size field, even an invalid one), addressed to (tsys, tcomp).
pub fn ftp_frame(sys: u8, comp: u8, tsys: u8, tcomp: u8, ftp: &[u8; 251]) -> Vec<u8> {
    let mut payload = vec![0u8, tsys, tcomp];
    payload.extend_from_slice(ftp);
    while payload.len() > 1 && payload.last() == Some(&0) {
        payload.pop();
    }
    mavlink2_frame(sys, comp, 110, 84, &payload)
}

/// Download `path` with BurstReadFile rounds (go-back-N: a round that skips
/// ahead or stalls for `stall` is asked again from the first missing byte);
/// panics after `limit`. Returns the bytes and how many rounds it took.
pub fn download_by_bursts(
    r: &mut Requester,
    path: &str,
    chunk: usize,
    stall: Duration,
    limit: Duration,
) -> (Vec<u8>, u32) {
    let start = Instant::now();
    let open = r.call(Opcode::OpenFileRO, 0, 0, path.as_bytes());
    assert!(is_ack(&open), "open {path}: {open:?}");
    let session = open.session;
    let mut have: Vec<u8> = Vec::new();
    let mut rounds = 0;
    'rounds: loop {
        assert!(
            start.elapsed() < limit,
            "download of {path} ran past {limit:?}"
        );
        rounds += 1;
        let p = r.req(
            Opcode::BurstReadFile,
            session,
            have.len() as u32,
            &vec![0u8; chunk],
        );
        r.send_raw(&p);
        loop {
            let Some(reply) = r.recv(stall) else {
                continue 'rounds;
            };
            if reply.req_opcode != Opcode::BurstReadFile || reply.session != session {
                continue;
            }
            if reply.opcode == Opcode::Nak {
                if reply.nak_code() == Some(NakCode::Eof) && reply.offset as usize == have.len() {
                    break 'rounds;
                }
                continue 'rounds;
            }
            if reply.offset as usize != have.len() {
                if (reply.offset as usize) < have.len() {
                    continue; // late packet of an earlier round
                }
                r.drain();
                continue 'rounds;
            }
            have.extend_from_slice(&reply.data);
            if reply.burst_complete {
                if reply.data.len() < if chunk == 0 { 239 } else { chunk } {
                    break 'rounds;
                }
                continue 'rounds;
            }
        }
    }
    let t = r.call(Opcode::TerminateSession, session, 0, &[]);
    assert!(is_ack(&t), "terminate: {t:?}");
    (have, rounds)
}
