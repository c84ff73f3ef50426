//! BurstReadFile against our server: sizes × chunk sizes, endings, re-request
//! after the packet cap, interleaving with other requests, pacing, the end of
//! a paced burst after about a second of airtime (for pymavlink).

use std::fs;
use std::time::{Duration, Instant};

use crate::support::*;
use mavftp::Server;
use mavftp::link::sim::{Impairment, QueueLimit, link_pair};
use mavftp::protocol::{FtpPacket, NakCode, Opcode};

/// Burst-download `path` (re-requesting after a capped burst); checks the
/// sequence numbers, offsets and the bc/EOF endings on the way.
fn burst_download(r: &mut Requester, path: &str, chunk: usize) -> Vec<u8> {
    let open = r.call(Opcode::OpenFileRO, 0, 0, path.as_bytes());
    assert!(is_ack(&open));
    let size = open.data_u32().unwrap() as usize;
    let eff = if chunk == 0 { 239 } else { chunk };
    let mut out = Vec::new();
    let mut rounds = 0;
    'outer: loop {
        rounds += 1;
        assert!(rounds < 10);
        let p = r.req(
            Opcode::BurstReadFile,
            open.session,
            out.len() as u32,
            &vec![0u8; chunk],
        );
        r.send_raw(&p);
        let mut expect_seq = p.seq.wrapping_add(1);
        loop {
            let reply = r.recv(Duration::from_secs(5)).expect("burst stalled");
            assert_eq!(reply.seq, expect_seq, "seq numbers advance by one");
            expect_seq = expect_seq.wrapping_add(1);
            assert_eq!(reply.req_opcode, Opcode::BurstReadFile);
            assert_eq!(reply.session, open.session);
            if reply.opcode == Opcode::Nak {
                // Directly after a full packet (length a multiple of the chunk).
                assert_eq!(reply.nak_code(), Some(NakCode::Eof));
                assert_eq!(reply.offset as usize, size);
                assert_eq!(out.len(), size);
                assert!(size.is_multiple_of(eff), "EOF without a short bc=1 packet");
                break 'outer;
            }
            assert_eq!(reply.offset as usize, out.len());
            assert!(reply.data.len() <= eff);
            out.extend_from_slice(&reply.data);
            if reply.burst_complete {
                if reply.data.len() < eff {
                    // Short last packet: NAK EOF follows, offset = file size.
                    let eof = r.recv(Duration::from_secs(5)).expect("EOF after bc");
                    assert_eq!(eof.seq, expect_seq);
                    assert_eq!(eof.nak_code(), Some(NakCode::Eof));
                    assert_eq!(eof.req_opcode, Opcode::BurstReadFile);
                    assert_eq!(eof.offset as usize, size);
                    assert_eq!(out.len(), size);
                    break 'outer;
                }
                // Capped burst: full packet with bc=1, re-request from here.
                assert!(r.recv(Duration::from_millis(100)).is_none());
                continue 'outer;
            }
            assert_eq!(reply.data.len(), eff, "only the last packet is short");
        }
    }
    assert!(is_ack(&r.call(
        Opcode::TerminateSession,
        open.session,
        0,
        &[]
    )));
    out
}

#[test]
fn burst_of_every_size_and_chunk_is_byte_exact_with_bc_and_eof_endings_and_cap_rerequest() {
    let tmp = tempfile::tempdir().unwrap();
    let sizes = [0usize, 1, 238, 239, 240, 478, 1 << 20];
    for &s in &sizes {
        fs::write(tmp.path().join(format!("f{s}")), pattern(s, s as u32)).unwrap();
    }
    let hub = Hub::new();
    let server = Server::new(&hub.server, tmp.path()).unwrap();
    server.set_unknown_link_rate(0); // unpaced: the in-process hub loses nothing
    let mut r = hub.requester(30, 190);
    for &s in &sizes {
        for chunk in [0usize, 239, 80] {
            let got = burst_download(&mut r, &format!("/f{s}"), chunk);
            assert_eq!(got.len(), s, "size {s} chunk {chunk}");
            assert!(
                got == pattern(s, s as u32),
                "size {s} chunk {chunk}: bytes differ"
            );
        }
    }
}

#[test]
fn a_burst_does_not_starve_other_peers_and_terminate_stops_it() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("big"), pattern(4 << 20, 7)).unwrap();
    let hub = Hub::new();
    let _server = Server::new(&hub.server, tmp.path()).unwrap();
    let mut a = hub.requester(31, 190);
    let mut b = hub.requester(32, 190);
    let open = a.call(Opcode::OpenFileRO, 0, 0, b"big");
    let p = a.req(Opcode::BurstReadFile, open.session, 0, &[]);
    a.send_raw(&p);
    // Wait until the burst streams.
    assert!(a.recv(Duration::from_secs(2)).is_some());
    for _ in 0..20 {
        let t = Instant::now();
        assert!(is_ack(&b.call(Opcode::ListDirectory, 0, 0, b"/")));
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "peer starved: {:?}",
            t.elapsed()
        );
    }
    // A ReadFile on the bursting session is answered promptly (gap fill).
    let rd = a.req(Opcode::ReadFile, open.session, 1000, &[0; 100]);
    a.send_raw(&rd);
    let t = Instant::now();
    loop {
        let reply = a
            .recv(Duration::from_secs(2))
            .expect("no reply to ReadFile");
        if reply.req_opcode == Opcode::ReadFile {
            assert_eq!(reply.data, pattern(4 << 20, 7)[1000..1100]);
            break;
        }
    }
    assert!(t.elapsed() < Duration::from_millis(500));
    // Terminate: the stream stops.
    let term = a.req(Opcode::TerminateSession, open.session, 0, &[]);
    a.send_raw(&term);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut acked = false;
    while Instant::now() < deadline {
        match a.recv(Duration::from_millis(100)) {
            Some(reply) if reply.req_opcode == Opcode::TerminateSession => {
                assert!(is_ack(&reply));
                acked = true;
            }
            Some(reply) => assert!(
                !acked || reply.req_opcode != Opcode::BurstReadFile,
                "burst continued after terminate"
            ),
            None if acked => break,
            None => {}
        }
    }
    assert!(acked);
    assert!(a.recv(Duration::from_millis(200)).is_none());
}

#[test]
fn burst_is_paced_to_the_link_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(24_000, 5);
    fs::write(tmp.path().join("f"), &data).unwrap();
    // The server's outgoing direction: 20 kB/s with a queue of ~3 frames.
    let down = Impairment::none()
        .with_rate(20_000)
        .with_queue_limit(QueueLimit::Bytes(900));
    let (client_link, server_link) = link_pair((230, 190), (1, 1), Impairment::none(), down);
    assert_eq!(server_link.byte_rate(), Some(20_000));
    let _server = Server::new(&server_link, tmp.path()).unwrap();
    let mut r = Requester::new(client_link, 230);
    let t = Instant::now();
    let got = burst_download(&mut r, "f", 0);
    assert!(
        got == data,
        "a frame was dropped: the burst overran the link"
    );
    // 101 frames of 266 bytes at 20 kB/s ≈ 1.34 s.
    assert!(
        t.elapsed() >= Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
}

/// A burst on a link of known rate ends after this much airtime in which the
/// client sent nothing (README, "How transfers approach the link's limit").
const MAX_BURST_AIRTIME: Duration = Duration::from_secs(1);

/// Airtime the server gives a burst packet of `chunk` data bytes on a link
/// of `rate` bytes/s: its frame (MAVLink 2 header and CRC 12 bytes, target
/// 3, FTP header 12, then the data; docs/PROTOCOL_NOTES.md §1), paced 1 %
/// under the link rate.
fn paced_frame_time(chunk: usize, rate: u32) -> Duration {
    let frame = (12 + 3 + 12 + chunk).min(266);
    Duration::from_secs_f64(frame as f64 * 1.01 / f64::from(rate))
}

#[test]
fn a_paced_burst_ends_with_bc_after_about_a_second_of_airtime() {
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(40_000, 9);
    fs::write(tmp.path().join("f"), &data).unwrap();
    let rate = 30_000;
    let down = Impairment::none().with_rate(rate);
    let (client_link, server_link) = link_pair((231, 190), (1, 1), Impairment::none(), down);
    let _server = Server::new(&server_link, tmp.path()).unwrap();
    let mut r = Requester::new(client_link, 231);
    let open = r.call(Opcode::OpenFileRO, 0, 0, b"f");
    assert!(is_ack(&open));
    for chunk in [239usize, 80] {
        let p = r.req(Opcode::BurstReadFile, open.session, 0, &vec![0u8; chunk]);
        r.send_raw(&p);
        let t = Instant::now();
        let mut n = 0u32;
        loop {
            let reply = r.recv(Duration::from_secs(5)).expect("burst stalled");
            assert_eq!(reply.opcode, Opcode::Ack, "chunk {chunk}");
            assert_eq!(reply.offset as usize, n as usize * chunk);
            assert_eq!(reply.data, data[n as usize * chunk..][..chunk]);
            n += 1;
            if reply.burst_complete {
                break;
            }
        }
        // The burst ends on a full packet once its frames fill ~1 s of the
        // link (short chunks: more, smaller frames), and nothing follows.
        let per = paced_frame_time(chunk, rate);
        assert!(per * n >= MAX_BURST_AIRTIME && per * (n - 1) < MAX_BURST_AIRTIME);
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "{:?}",
            t.elapsed()
        );
        assert!(r.recv(Duration::from_millis(150)).is_none());
    }
}

/// A peer that keeps sending (gap-fill reads) is not idle: its burst runs
/// past the airtime cap to the end of the file.
#[test]
fn a_paced_burst_goes_on_while_its_peer_keeps_sending() {
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(40_000, 11);
    fs::write(tmp.path().join("f"), &data).unwrap();
    let rate = 30_000;
    let down = Impairment::none().with_rate(rate);
    let (client_link, server_link) = link_pair((232, 190), (1, 1), Impairment::none(), down);
    let _server = Server::new(&server_link, tmp.path()).unwrap();
    let mut r = Requester::new(client_link, 232);
    let open = r.call(Opcode::OpenFileRO, 0, 0, b"f");
    assert!(is_ack(&open));
    let p = r.req(Opcode::BurstReadFile, open.session, 0, &[]);
    r.send_raw(&p);
    let (t, mut last_request) = (Instant::now(), Instant::now());
    let (mut got, mut reads_answered) = (Vec::new(), 0);
    loop {
        if last_request.elapsed() >= Duration::from_millis(400) {
            let read = r.req(Opcode::ReadFile, open.session, 0, &[0; 239]);
            r.send_raw(&read);
            last_request = Instant::now();
        }
        let reply = r.recv(Duration::from_secs(5)).expect("burst stalled");
        if reply.req_opcode == Opcode::ReadFile {
            assert_eq!(reply.data, data[..239]);
            reads_answered += 1;
            continue;
        }
        if reply.opcode == Opcode::Nak {
            assert_eq!(reply.nak_code(), Some(NakCode::Eof));
            break;
        }
        assert_eq!(reply.offset as usize, got.len());
        got.extend_from_slice(&reply.data);
        if reply.burst_complete {
            assert!(reply.data.len() < 239, "burst capped at {} B", got.len());
        }
    }
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
    assert!(reads_answered >= 2, "{reads_answered} reads answered");
    // 168 frames at 30 kB/s: about 1.5 s of airtime in one burst.
    assert!(
        t.elapsed() >= Duration::from_millis(1300),
        "{:?}",
        t.elapsed()
    );
}

/// The replies to a peer's other requests take their airtime on the link
/// too: a paced burst leaves room for them instead of pushing them into the
/// radio's queue on top of its own packets (where they pile up: a burst
/// paced 1 % under the rate drains one extra frame in 100 packets). With a
/// queue of about three frames, every burst packet and every read reply
/// arrives.
#[test]
fn a_paced_burst_leaves_the_airtime_of_other_replies_free() {
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(40_000, 13);
    fs::write(tmp.path().join("f"), &data).unwrap();
    let rate = 30_000;
    let down = Impairment::none()
        .with_rate(rate)
        .with_queue_limit(QueueLimit::Bytes(900));
    let (client_link, server_link) = link_pair((233, 190), (1, 1), Impairment::none(), down);
    let _server = Server::new(&server_link, tmp.path()).unwrap();
    let mut r = Requester::new(client_link, 233);
    let open = r.call(Opcode::OpenFileRO, 0, 0, b"f");
    assert!(is_ack(&open));
    let p = r.req(Opcode::BurstReadFile, open.session, 0, &[]);
    r.send_raw(&p);
    let mut last_request = Instant::now();
    let (mut got, mut reads_sent, mut reads_answered) = (Vec::new(), 0, 0);
    loop {
        if last_request.elapsed() >= Duration::from_millis(100) {
            // A full frame each, sent at once by the server.
            let read = r.req(Opcode::ReadFile, open.session, 0, &[0; 239]);
            r.send_raw(&read);
            reads_sent += 1;
            last_request = Instant::now();
        }
        let reply = r.recv(Duration::from_secs(5)).expect("burst stalled");
        if reply.req_opcode == Opcode::ReadFile {
            assert_eq!(reply.data, data[..239]);
            reads_answered += 1;
            continue;
        }
        if reply.opcode == Opcode::Nak {
            assert_eq!(reply.nak_code(), Some(NakCode::Eof));
            break;
        }
        assert_eq!(
            reply.offset as usize,
            got.len(),
            "a burst packet was dropped from the queue"
        );
        got.extend_from_slice(&reply.data);
    }
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
    // The last read may still be on its way.
    while reads_answered < reads_sent {
        let Some(reply) = r.recv(Duration::from_millis(500)) else {
            break;
        };
        if reply.req_opcode == Opcode::ReadFile {
            reads_answered += 1;
        }
    }
    assert!(reads_sent >= 10, "{reads_sent} reads sent");
    assert_eq!(reads_answered, reads_sent, "a read reply was dropped");
}

#[test]
fn a_burst_on_a_closed_or_unknown_session_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::new();
    let _server = Server::new(&hub.server, tmp.path()).unwrap();
    let mut r = hub.requester(33, 190);
    let reply = r.call(Opcode::BurstReadFile, 9, 0, &[]);
    assert_eq!(reply.nak_code(), Some(NakCode::InvalidSession));
    let _ = FtpPacket::request(Opcode::None, 0);
}
