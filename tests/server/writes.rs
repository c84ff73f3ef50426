//! Writes sent back to back, as a pipelining upload sends them, reach our
//! server over UDP in one read and are written as one run (one `pwritev`,
//! on the thread that read them): every request still gets its own reply,
//! ACKed only once its bytes are in the file, a failed write NAKs exactly
//! the requests whose bytes were not written, and a duplicate is answered
//! from the reply cache without being written again.

use std::fs;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::own_process;
use crate::support::*;
use mavftp::Server;
use mavftp::link::Link;
use mavftp::protocol::{FtpPacket, NakCode, Opcode};

/// Our server on `udpin://127.0.0.1:0` over a fresh root.
fn udp_server() -> (tempfile::TempDir, SocketAddr, Server, Link) {
    let root = tempfile::tempdir().unwrap();
    let link = Link::open("udpin://127.0.0.1:0", SERVER_SYS, SERVER_COMP).unwrap();
    let addr = link.local_addr().unwrap();
    let server = Server::new(&link, root.path()).unwrap();
    (root, addr, server, link)
}

/// Send `reqs` back to back, then collect one reply per request (by seq,
/// a duplicate's after the first's); panics on a reply to no request.
fn send_all(r: &Requester, reqs: &[FtpPacket]) -> Vec<FtpPacket> {
    for p in reqs {
        r.send_raw(p);
    }
    let mut replies: Vec<Option<FtpPacket>> = vec![None; reqs.len()];
    let deadline = Instant::now() + Duration::from_secs(10);
    for _ in reqs {
        let left = deadline.saturating_duration_since(Instant::now());
        let reply = r.recv(left).expect("a reply to every write");
        let asked = (0..reqs.len())
            .find(|&i| replies[i].is_none() && reqs[i].seq.wrapping_add(1) == reply.seq)
            .unwrap_or_else(|| panic!("a reply to no request: {reply:?}"));
        assert_eq!(reply.req_opcode, reqs[asked].opcode);
        replies[asked] = Some(reply);
    }
    assert!(
        r.recv(Duration::from_millis(200)).is_none(),
        "one reply each"
    );
    replies.into_iter().map(Option::unwrap).collect()
}

#[test]
fn writes_sent_back_to_back_give_the_exact_file_and_one_ack_per_write_at_its_offset() {
    let (root, addr, _server, _link) = udp_server();
    let mut r = UdpRequester::new(addr, 245, 190);
    let c = r.call(Opcode::CreateFile, 0, 0, b"up.bin");
    assert!(is_ack(&c), "{c:?}");
    let content = pattern(100 * 239 + 17, 14);
    let writes: Vec<FtpPacket> = content
        .chunks(239)
        .enumerate()
        .map(|(i, chunk)| r.req(Opcode::WriteFile, c.session, (i * 239) as u32, chunk))
        .collect();
    // In windows of 25, as a pipelining client keeps them in flight.
    for window in writes.chunks(25) {
        for (req, reply) in window.iter().zip(send_all(&r, window)) {
            assert!(is_ack(&reply), "{reply:?}");
            assert_eq!((reply.offset, reply.session), (req.offset, c.session));
            assert!(reply.data.is_empty());
        }
    }
    assert!(is_ack(&r.call(Opcode::TerminateSession, c.session, 0, &[])));
    assert_eq!(fs::read(root.path().join("up.bin")).unwrap(), content);
}

#[test]
fn a_duplicated_write_among_others_is_answered_from_the_cache_not_written_again() {
    let (root, addr, _server, _link) = udp_server();
    let mut r = UdpRequester::new(addr, 245, 190);
    let c = r.call(Opcode::CreateFile, 0, 0, b"dup.bin");
    let first = r.req(Opcode::WriteFile, c.session, 0, b"AAAA");
    let over = r.req(Opcode::WriteFile, c.session, 0, b"BBBB");
    let next = r.req(Opcode::WriteFile, c.session, 4, b"CCCC");
    let tail = r.req(Opcode::WriteFile, c.session, 8, b"DDDD");
    // `first` again after `over` overwrote it: written again, the file
    // would start with AAAA.
    let reqs = [first.clone(), over, first, next, tail];
    let replies = send_all(&r, &reqs);
    for (req, reply) in reqs.iter().zip(&replies) {
        assert!(is_ack(reply), "{reply:?}");
        assert_eq!(reply.offset, req.offset);
    }
    assert_eq!(replies[0], replies[2], "the cached reply, as sent");
    assert!(is_ack(&r.call(Opcode::TerminateSession, c.session, 0, &[])));
    assert_eq!(
        fs::read(root.path().join("dup.bin")).unwrap(),
        b"BBBBCCCCDDDD"
    );
}

/// Largest file this process may write (RLIMIT_FSIZE) in the next test.
const FILE_LIMIT: u64 = 1000;

#[test]
fn writes_that_fail_mid_run_are_nakked_with_their_errno_and_the_others_acked() {
    // The file-size limit applies to the whole process: alone in a child.
    if !own_process::is_child() {
        own_process::run_alone(
            "writes::writes_that_fail_mid_run_are_nakked_with_their_errno_and_the_others_acked",
            &[],
        );
        return;
    }
    // A write beyond the limit fails with EFBIG (and SIGXFSZ, ignored);
    // one across it writes up to it (a short write).
    // SAFETY: plain system calls on this process's own settings.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit {
            rlim_cur: FILE_LIMIT,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
    let (root, addr, _server, _link) = udp_server();
    let mut r = UdpRequester::new(addr, 245, 190);
    let c = r.call(Opcode::CreateFile, 0, 0, b"full.bin");
    let content = pattern(6 * 239, 15);
    let writes: Vec<FtpPacket> = content
        .chunks(239)
        .enumerate()
        .map(|(i, chunk)| r.req(Opcode::WriteFile, c.session, (i * 239) as u32, chunk))
        .collect();
    let replies = send_all(&r, &writes);
    for (req, reply) in writes.iter().zip(&replies) {
        assert_eq!(reply.offset, req.offset);
        if req.offset as u64 + 239 <= FILE_LIMIT {
            assert!(is_ack(reply), "{reply:?}");
        } else {
            assert_eq!(reply.nak_code(), Some(NakCode::FailErrno), "{reply:?}");
            assert_eq!(reply.nak_errno(), Some(libc::EFBIG as u8));
        }
    }
    let file = fs::read(root.path().join("full.bin")).unwrap();
    assert_eq!(file, content[..FILE_LIMIT as usize]);
}
