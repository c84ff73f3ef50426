//! Server sessions, reply cache, concurrent peers and robustness.

use std::fs;
use std::time::{Duration, Instant};

use crate::support::*;
use mavftp::Server;
use mavftp::protocol::{FtpPacket, NakCode, Opcode};

/// Sessions one peer, and one route, may hold at once (README, "The server
/// and its limits").
const SESSIONS_PER_PEER: usize = 4;
const SESSIONS_PER_ROUTE: usize = 16;

fn setup() -> (tempfile::TempDir, Hub, Server) {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f.bin"), pattern(5000, 1)).unwrap();
    let hub = Hub::new();
    let server = Server::new(&hub.server, tmp.path()).unwrap();
    (tmp, hub, server)
}

#[test]
fn session_id_is_echoed_or_allocated_and_full_gives_no_sessions_available() {
    let (_tmp, hub, _server) = setup();
    let mut a = hub.requester(10, 190);
    let first = a.call(Opcode::OpenFileRO, 5, 0, b"f.bin");
    assert!(is_ack(&first));
    assert_eq!(first.session, 5, "requested id is echoed");
    assert_eq!(first.data_u32(), Some(5000));
    assert_eq!(first.data.len(), 4);
    let second = a.call(Opcode::OpenFileRO, 5, 0, b"f.bin");
    assert!(is_ack(&second));
    assert_ne!(second.session, 5, "taken id gets another");
    let mut opened = 2;
    loop {
        let reply = a.call(Opcode::OpenFileRO, 0, 0, b"f.bin");
        if reply.opcode == Opcode::Nak {
            assert_eq!(reply.nak_code(), Some(NakCode::NoSessionsAvailable));
            break;
        }
        opened += 1;
        assert!(opened <= 64);
    }
    assert!(opened >= 4, "at least 4 sessions, got {opened}");
}

/// Opens sessions of `path` until the server refuses; returns their ids.
fn open_until_refused(r: &mut Requester, path: &[u8]) -> Vec<u8> {
    let mut sessions = Vec::new();
    loop {
        let reply = r.call(Opcode::OpenFileRO, 0, 0, path);
        if reply.opcode == Opcode::Nak {
            assert_eq!(reply.nak_code(), Some(NakCode::NoSessionsAvailable));
            return sessions;
        }
        sessions.push(reply.session);
        assert!(sessions.len() <= 64);
    }
}

#[test]
fn vanished_clients_do_not_lock_out_the_next_beyond_the_idle_timeout() {
    let (_tmp, hub, server) = setup();
    server.set_idle_timeout(Duration::from_millis(600));
    // Peers that fill every session this route may hold, read once, vanish.
    let mut held = 0;
    let mut gone = Vec::new();
    for comp in 0..64u8 {
        let mut r = hub.requester(11, 100 + comp);
        let sessions = open_until_refused(&mut r, b"f.bin");
        if sessions.is_empty() {
            break;
        }
        held += sessions.len();
        let read = r.call(Opcode::ReadFile, sessions[0], 0, &[0; 239]);
        assert!(is_ack(&read));
        gone.push(r);
    }
    assert_eq!(held, SESSIONS_PER_ROUTE);
    drop(gone);
    let mut next = hub.requester(12, 190);
    let refused = next.call(Opcode::OpenFileRO, 0, 0, b"f.bin");
    assert_eq!(refused.nak_code(), Some(NakCode::NoSessionsAvailable));
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let reply = next.call(Opcode::OpenFileRO, 0, 0, b"f.bin");
        if is_ack(&reply) {
            next.call(Opcode::TerminateSession, reply.session, 0, &[]);
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(3), "still locked out");
    }
    assert_eq!(read_whole(&mut next, "f.bin"), pattern(5000, 1));
}

/// Item 6 of issue 9: one peer that opens every session it can and keeps
/// them busy (a read on each every 300 ms, well inside the idle timeout)
/// must not lock another peer out.
#[test]
fn a_peer_keeping_every_session_busy_does_not_lock_out_another_peer() {
    let (_tmp, hub, _server) = setup();
    let mut hog = hub.requester(40, 190);
    let mut held = open_until_refused(&mut hog, b"f.bin");
    assert!(!held.is_empty());
    assert!(held.len() <= SESSIONS_PER_PEER);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_hog = std::sync::Arc::clone(&stop);
    let hog_thread = std::thread::spawn(move || {
        while !stop_hog.load(std::sync::atomic::Ordering::SeqCst) {
            for &s in &held {
                assert!(is_ack(&hog.call(Opcode::ReadFile, s, 0, &[0; 10])));
            }
            // And keep asking for more.
            held.extend(open_until_refused(&mut hog, b"f.bin"));
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    for round in 0..3 {
        let mut other = hub.requester(41, 190);
        assert_eq!(
            read_whole(&mut other, "f.bin"),
            pattern(5000, 1),
            "round {round}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    hog_thread.join().unwrap();
}

#[test]
fn reset_sessions_closes_only_the_requesting_peers_sessions() {
    let (_tmp, hub, _server) = setup();
    let mut a = hub.requester(13, 190);
    let mut b = hub.requester(14, 190);
    let sa = a.call(Opcode::OpenFileRO, 0, 0, b"f.bin").session;
    let sb = b.call(Opcode::OpenFileRO, 0, 0, b"f.bin").session;
    assert!(is_ack(&a.call(Opcode::ResetSessions, 0, 0, &[])));
    let ra = a.call(Opcode::ReadFile, sa, 0, &[0; 10]);
    assert_eq!(ra.nak_code(), Some(NakCode::InvalidSession));
    let rb = b.call(Opcode::ReadFile, sb, 0, &[0; 10]);
    assert!(is_ack(&rb));
    assert_eq!(rb.data, pattern(5000, 1)[..10]);
    // Same session id, different component: a different peer.
    let mut c = hub.requester(13, 191);
    let sc = c.call(Opcode::OpenFileRO, sa, 0, b"f.bin");
    assert!(is_ack(&sc));
    assert!(is_ack(&a.call(Opcode::ResetSessions, 0, 0, &[])));
    assert!(is_ack(&c.call(Opcode::ReadFile, sc.session, 0, &[0; 10])));
}

#[test]
fn two_peers_transfer_at_the_same_time() {
    let tmp = tempfile::tempdir().unwrap();
    let data_a = pattern(200_000, 2);
    let data_b = pattern(150_000, 3);
    fs::write(tmp.path().join("a.bin"), &data_a).unwrap();
    let hub = Hub::new();
    let _server = Server::new(&hub.server, tmp.path()).unwrap();
    let mut a = hub.requester(20, 190);
    let mut b = hub.requester(21, 190);
    let ta = std::thread::spawn(move || read_whole(&mut a, "a.bin"));
    let tb = std::thread::spawn(move || {
        let create = b.call(Opcode::CreateFile, 0, 0, b"up.bin");
        assert!(is_ack(&create));
        assert!(create.data.is_empty());
        for (i, chunk) in data_b.chunks(239).enumerate() {
            let off = (i * 239) as u32;
            let reply = b.call(Opcode::WriteFile, create.session, off, chunk);
            assert!(is_ack(&reply));
            assert_eq!(reply.offset, off);
        }
        assert!(is_ack(&b.call(
            Opcode::TerminateSession,
            create.session,
            0,
            &[]
        )));
        data_b
    });
    assert_eq!(ta.join().unwrap(), data_a);
    let data_b = tb.join().unwrap();
    assert_eq!(fs::read(tmp.path().join("up.bin")).unwrap(), data_b);
}

#[test]
fn duplicated_requests_are_answered_from_the_cache_not_executed_twice() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("old.txt"), b"x").unwrap();
    let hub = Hub::new();
    let _server = Server::new(&hub.server, tmp.path()).unwrap();
    let mut r = hub.requester(22, 190);
    // Rename twice with the same seq: the second must not fail.
    let p = r.req(Opcode::Rename, 0, 0, b"old.txt\0new.txt");
    let first = r.call_packet(&p);
    let second = r.call_packet(&p);
    assert!(is_ack(&first) && is_ack(&second), "{second:?}");
    assert!(tmp.path().join("new.txt").exists());
    // Mkdir twice: no FileExists.
    let p = r.req(Opcode::CreateDirectory, 0, 0, b"dir");
    assert!(is_ack(&r.call_packet(&p)));
    assert!(is_ack(&r.call_packet(&p)));
    // A new request (new seq) does execute.
    assert_eq!(
        r.call(Opcode::CreateDirectory, 0, 0, b"dir").nak_code(),
        Some(NakCode::FileExists)
    );
    // A duplicated WriteFile after the file moved on is not re-executed.
    let c = r.call(Opcode::CreateFile, 0, 0, b"w.bin");
    let w1 = r.req(Opcode::WriteFile, c.session, 0, b"AAAA");
    assert!(is_ack(&r.call_packet(&w1)));
    assert!(is_ack(&r.call(Opcode::WriteFile, c.session, 0, b"BBBB")));
    assert!(is_ack(&r.call_packet(&w1)));
    assert_eq!(fs::read(tmp.path().join("w.bin")).unwrap(), b"BBBB");
    // A duplicated ReadFile gets the whole data reply again.
    fs::write(tmp.path().join("r.bin"), pattern(1000, 9)).unwrap();
    let o = r.call(Opcode::OpenFileRO, 0, 0, b"r.bin");
    let rd = r.req(Opcode::ReadFile, o.session, 239, &[0; 239]);
    let d1 = r.call_packet(&rd);
    let d2 = r.call_packet(&rd);
    assert_eq!(d1, d2);
    assert_eq!(d1.data, pattern(1000, 9)[239..478]);
}

#[test]
fn a_restarted_client_reusing_seqs_is_served_afresh_after_reset_sessions() {
    // pymavlink starts every process with ResetSessions at seq 0, then counts
    // up from there: the second process repeats the first one's seqs.
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::new();
    let _server = Server::new(&hub.server, tmp.path()).unwrap();
    let r = hub.requester(23, 190);
    let with_seq = |op: Opcode, seq: u16, data: &[u8]| {
        let mut p = FtpPacket::request(op, seq);
        p.data = data.to_vec();
        p
    };
    for run in 0..2 {
        assert!(is_ack(&r.call_packet(&with_seq(
            Opcode::ResetSessions,
            0,
            &[]
        ))));
        let mkdir = r.call_packet(&with_seq(Opcode::CreateDirectory, 1, b"d"));
        if run == 0 {
            assert!(is_ack(&mkdir), "{mkdir:?}");
        } else {
            assert_eq!(
                mkdir.nak_code(),
                Some(NakCode::FileExists),
                "replayed: {mkdir:?}"
            );
        }
    }
}

#[test]
fn every_plain_opcode_behaves() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("f.bin"), pattern(500, 4)).unwrap();
    fs::create_dir(root.join("sub")).unwrap();
    fs::write(root.join("tab\tname"), b"x").unwrap();
    let hub = Hub::new();
    let _server = Server::new(&hub.server, root).unwrap();
    let mut r = hub.requester(23, 190);
    // Reply seq = request seq + 1, offset echoed.
    let o = r.call(Opcode::OpenFileRO, 0, 0, b"/f.bin");
    assert_eq!(o.data_u32(), Some(500));
    let p = r.req(Opcode::ReadFile, o.session, 400, &[]);
    let rd = r.call_packet(&p);
    assert_eq!(rd.seq, p.seq + 1);
    assert_eq!(rd.offset, 400);
    assert_eq!(rd.data, pattern(500, 4)[400..]); // size 0 reads up to 239: short at the end
    let eof = r.call(Opcode::ReadFile, o.session, 500, &[0; 10]);
    assert_eq!(eof.nak_code(), Some(NakCode::Eof));
    assert_eq!(eof.offset, 500);
    assert!(is_ack(&r.call(Opcode::TerminateSession, o.session, 0, &[])));
    assert_eq!(
        r.call(Opcode::ReadFile, o.session, 0, &[0; 10]).nak_code(),
        Some(NakCode::InvalidSession)
    );
    assert_eq!(
        r.call(Opcode::TerminateSession, o.session, 0, &[])
            .nak_code(),
        Some(NakCode::InvalidSession)
    );
    // Listing: sorted, S placeholder, sizes, EOF at the end, file → NAK.
    let l = r.call(Opcode::ListDirectory, 0, 0, b"/");
    assert_eq!(l.data, b"Ff.bin\t500\0Dsub\0S\0");
    let l = r.call(Opcode::ListDirectory, 0, 2, b"/");
    assert_eq!(l.data, b"S\0");
    assert_eq!(
        r.call(Opcode::ListDirectory, 0, 3, b"/").nak_code(),
        Some(NakCode::Eof)
    );
    let lt = r.call(Opcode::ListDirectoryWithTime, 0, 0, b"/");
    let text = String::from_utf8(lt.data.clone()).unwrap();
    assert!(
        text.starts_with("Ff.bin\t500\t1") && text.contains("\0Dsub\t0\t"),
        "{text:?}"
    );
    let lf = r.call(Opcode::ListDirectory, 0, 0, b"f.bin");
    assert_eq!(lf.opcode, Opcode::Nak);
    assert_eq!(
        r.call(Opcode::ListDirectory, 0, 0, b"missing").nak_code(),
        Some(NakCode::FileNotFound)
    );
    // CRC32 (MAVLink variant).
    let crc = r.call(Opcode::CalcFileCRC32, 0, 0, b"f.bin");
    assert_eq!(
        crc.data_u32(),
        Some(mavftp::protocol::mavlink_crc32(0, &pattern(500, 4)))
    );
    // OpenFileWO does not truncate; Truncate sets the length.
    let wo = r.call(Opcode::OpenFileWO, 0, 0, b"f.bin");
    assert!(is_ack(&wo));
    let w = r.call(Opcode::WriteFile, wo.session, 10, b"ZZ");
    assert_eq!(w.offset, 10);
    assert!(is_ack(&r.call(
        Opcode::TerminateSession,
        wo.session,
        0,
        &[]
    )));
    let mut expect = pattern(500, 4);
    expect[10..12].copy_from_slice(b"ZZ");
    assert_eq!(fs::read(root.join("f.bin")).unwrap(), expect);
    assert!(is_ack(&r.call(Opcode::TruncateFile, 0, 100, b"f.bin")));
    assert_eq!(fs::read(root.join("f.bin")).unwrap(), expect[..100]);
    // Create, mkdir, rename, remove, rmdir.
    assert_eq!(
        r.call(Opcode::CreateDirectory, 0, 0, b"sub").nak_code(),
        Some(NakCode::FileExists)
    );
    assert!(is_ack(&r.call(Opcode::CreateDirectory, 0, 0, b"sub/inner")));
    assert!(is_ack(&r.call(
        Opcode::Rename,
        0,
        0,
        b"f.bin\0sub/inner/g.bin"
    )));
    assert_eq!(
        fs::read(root.join("sub/inner/g.bin")).unwrap(),
        expect[..100]
    );
    assert_eq!(
        r.call(Opcode::RemoveDirectory, 0, 0, b"sub/inner").opcode,
        Opcode::Nak
    );
    assert!(is_ack(&r.call(
        Opcode::RemoveFile,
        0,
        0,
        b"sub/inner/g.bin"
    )));
    assert_eq!(
        r.call(Opcode::RemoveFile, 0, 0, b"sub/inner/g.bin")
            .nak_code(),
        Some(NakCode::FileNotFound)
    );
    assert_eq!(r.call(Opcode::RemoveFile, 0, 0, b"sub").opcode, Opcode::Nak);
    assert!(is_ack(&r.call(Opcode::RemoveDirectory, 0, 0, b"sub/inner")));
    assert!(!root.join("sub/inner").exists());
    // Unknown opcodes.
    for op in [17u8, 50, 127, 200, 255] {
        let reply = r.call(Opcode::from_u8(op), 0, 0, &[]);
        assert_eq!(reply.nak_code(), Some(NakCode::UnknownCommand));
    }
}

#[test]
fn requests_to_component_zero_are_served_and_other_targets_ignored() {
    let (_tmp, hub, _server) = setup();
    let mut r = hub.requester(24, 190);
    r.target_comp = 0;
    assert!(is_ack(&r.call(Opcode::ListDirectory, 0, 0, b"/")));
    r.target_comp = 5;
    let p = r.req(Opcode::ListDirectory, 0, 0, b"/");
    r.send_raw(&p);
    assert!(r.recv(Duration::from_millis(300)).is_none());
}

#[test]
fn random_packets_for_two_seconds_do_not_stop_the_server() {
    let (tmp, hub, _server) = setup();
    fs::create_dir(tmp.path().join("d")).unwrap();
    let mut r = hub.requester(25, 190);
    let mut x: u64 = 0x1234_5678_9abc_def0;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let start = Instant::now();
    let mut sent = 0u32;
    while start.elapsed() < Duration::from_secs(2) {
        let len = (next() % 240) as usize;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                let v = next();
                if v % 4 == 0 {
                    b"/.\0d"[(v >> 8) as usize % 4]
                } else {
                    v as u8
                }
            })
            .collect();
        let p = FtpPacket {
            seq: next() as u16,
            session: (next() % 4) as u8,
            opcode: Opcode::from_u8((next() % 20) as u8),
            req_opcode: Opcode::from_u8(next() as u8),
            burst_complete: next() % 2 == 0,
            offset: if next() % 2 == 0 {
                (next() % 1000) as u32
            } else {
                next() as u32
            },
            data,
        };
        // Never let the fuzz remove or rename the test file.
        if matches!(
            p.opcode,
            Opcode::RemoveFile
                | Opcode::Rename
                | Opcode::TruncateFile
                | Opcode::CreateFile
                | Opcode::OpenFileWO
        ) && p.data.starts_with(b"f.bin")
        {
            continue;
        }
        r.send_raw(&p);
        sent += 1;
        while r.receiver().try_recv().is_ok() {}
        if sent.is_multiple_of(50) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(sent > 100);
    r.drain();
    let mut fresh = hub.requester(26, 190);
    assert!(is_ack(&fresh.call(Opcode::ResetSessions, 0, 0, &[])));
    assert!(is_ack(&r.call(Opcode::ResetSessions, 0, 0, &[])));
    assert_eq!(read_whole(&mut fresh, "f.bin"), pattern(5000, 1));
}
