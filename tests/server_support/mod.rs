//! Shared helpers for the server tests (also compiled on its own: no tests).
#![allow(dead_code)]

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

pub fn nak_code(p: &FtpPacket) -> Option<NakCode> {
    p.nak_code()
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
#[allow(unused_imports)] // not every test file uses it
pub use interop_support::pattern;

#[path = "../interop_support/mod.rs"]
mod interop_support;
