//! What the server does at the protocol's limits and under expensive
//! requests: invalid size fields (issue 9 item 7), files of 4 GiB and more
//! (item 3), a CRC of a huge file while others are served (item 4), and a
//! slow reader of a burst at the server's defaults (item 12).

use std::fs::{self, File};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::support::*;
use mavftp::Server;
use mavftp::link::Link;
use mavftp::protocol::{FtpPacket, NakCode, Opcode, mavlink_crc32};

const EFBIG: u8 = 27;

/// Issue 9 item 7: a request whose size field is 240–255 was dropped
/// silently (costing the client a timeout); PX4 and MAVSDK's server answer
/// NAK InvalidDataSize.
#[test]
fn requests_with_a_size_field_of_240_to_255_get_nak_invalid_data_size() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("x"), b"x").unwrap();
    let hub = Hub::new();
    let _server = Server::new(&hub.server, tmp.path()).unwrap();
    let r = hub.requester(50, 190);
    for (i, size) in (240..=255u8).enumerate() {
        let seq = 1000 + 2 * i as u16;
        let mut req = FtpPacket::request(Opcode::ListDirectory, seq);
        req.session = 3;
        req.data = b"/".to_vec();
        let mut wire = req.encode();
        wire[4] = size;
        hub.server
            .feed(&ftp_frame(50, 190, SERVER_SYS, SERVER_COMP, &wire))
            .unwrap();
        let reply = r
            .recv(Duration::from_secs(2))
            .unwrap_or_else(|| panic!("size {size}: no reply"));
        assert_eq!(
            reply.nak_code(),
            Some(NakCode::InvalidDataSize),
            "size {size}"
        );
        assert_eq!(reply.seq, seq + 1);
        assert_eq!(reply.req_opcode, Opcode::ListDirectory);
        assert_eq!(reply.session, 3);
    }
    // A valid request still works.
    let mut r = r;
    assert!(is_ack(&r.call(Opcode::ListDirectory, 0, 0, b"/")));
}

fn sparse(path: &std::path::Path, len: u64) {
    File::create(path).unwrap().set_len(len).unwrap();
}

/// Issue 9 item 3 (server side): a file of 4 GiB or more was announced as
/// 0xFFFFFFFF bytes and served as a wrong file; writes could grow files past
/// what the protocol can address.
#[test]
fn files_of_4_gib_or_more_are_refused_and_listed_with_their_true_size() {
    let tmp = tempfile::tempdir().unwrap();
    let four_gib = 1u64 << 32;
    sparse(&tmp.path().join("big"), four_gib + 1);
    sparse(&tmp.path().join("max"), four_gib - 1);
    let hub = Hub::new();
    let _server = Server::new(&hub.server, tmp.path()).unwrap();
    let mut r = hub.requester(51, 190);

    let open = r.call(Opcode::OpenFileRO, 0, 0, b"/big");
    assert_eq!(open.nak_code(), Some(NakCode::FailErrno), "{open:?}");
    assert_eq!(open.nak_errno(), Some(EFBIG));
    let wo = r.call(Opcode::OpenFileWO, 0, 0, b"/big");
    assert_eq!(wo.nak_errno(), Some(EFBIG), "{wo:?}");
    let list = r.call(Opcode::ListDirectory, 0, 0, b"/");
    let text = String::from_utf8(list.data).unwrap();
    assert!(text.contains("Fbig\t4294967297\0"), "{text:?}");
    assert!(text.contains("Fmax\t4294967295\0"), "{text:?}");

    // 4 GiB - 1 is the largest file served.
    let open = r.call(Opcode::OpenFileRO, 0, 0, b"/max");
    assert!(is_ack(&open));
    assert_eq!(open.data_u32(), Some(u32::MAX));
    let last = r.call(Opcode::ReadFile, open.session, u32::MAX - 1, &[0; 239]);
    assert!(is_ack(&last));
    assert_eq!(last.data, [0u8]);
    // The file grows past 4 GiB under the session: reads and bursts refuse.
    sparse(&tmp.path().join("max"), four_gib + 10);
    let grown = r.call(Opcode::ReadFile, open.session, 0, &[0; 239]);
    assert_eq!(grown.nak_errno(), Some(EFBIG), "{grown:?}");
    let p = r.req(Opcode::BurstReadFile, open.session, 0, &[0; 239]);
    r.send_raw(&p);
    let burst = r.recv(Duration::from_secs(2)).expect("burst reply");
    assert_eq!(burst.req_opcode, Opcode::BurstReadFile);
    assert_eq!(burst.nak_errno(), Some(EFBIG), "{burst:?}");
    r.drain();

    // Writes may end at 4 GiB - 1, not beyond.
    let c = r.call(Opcode::CreateFile, 0, 0, b"/w");
    assert!(is_ack(&c));
    let over = r.call(Opcode::WriteFile, c.session, 0xFFFF_FFF0, &[7; 16]);
    assert_eq!(over.nak_errno(), Some(EFBIG), "{over:?}");
    let fits = r.call(Opcode::WriteFile, c.session, 0xFFFF_FFF0, &[7; 15]);
    assert!(is_ack(&fits), "{fits:?}");
    assert!(is_ack(&r.call(Opcode::TerminateSession, c.session, 0, &[])));
    assert_eq!(
        fs::metadata(tmp.path().join("w")).unwrap().len(),
        four_gib - 1
    );
}

/// Issue 9 item 4: CalcFileCRC32 ran on the server's only thread; a CRC of a
/// 4.5 GiB file kept every other peer waiting 7.8 s.
#[test]
fn a_crc_of_a_huge_file_does_not_stall_other_peers() {
    let tmp = tempfile::tempdir().unwrap();
    let len = 3u64 << 30;
    sparse(&tmp.path().join("huge"), len);
    fs::write(tmp.path().join("small"), b"x").unwrap();
    let hub = Hub::new();
    let _server = Server::new(&hub.server, tmp.path()).unwrap();
    let mut a = hub.requester(52, 190);
    let mut b = hub.requester(53, 190);
    let expected = {
        let zeros = vec![0u8; 1 << 20];
        (0..(len >> 20)).fold(0u32, |crc, _| mavlink_crc32(crc, &zeros))
    };
    let crc_req = a.req(Opcode::CalcFileCRC32, 0, 0, b"/huge");
    let sent = Instant::now();
    a.send_raw(&crc_req);
    let mut worst = Duration::ZERO;
    let mut listings = 0;
    let reply = loop {
        let t = Instant::now();
        let l = b.call(Opcode::ListDirectory, 0, 0, b"/");
        assert!(is_ack(&l));
        worst = worst.max(t.elapsed());
        listings += 1;
        if let Ok(m) = a.receiver().try_recv() {
            break m.packet;
        }
        assert!(sent.elapsed() < Duration::from_secs(60), "no CRC reply");
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = sent.elapsed();
    assert!(is_ack(&reply), "{reply:?}");
    assert_eq!(reply.data_u32(), Some(expected));
    assert!(
        worst < Duration::from_millis(500),
        "a listing waited {worst:?} while the CRC ran ({took:?}, {listings} listings)"
    );
    // The same file again: from the cache.
    let t = Instant::now();
    let again = a.call(Opcode::CalcFileCRC32, 0, 0, b"/huge");
    assert_eq!(again.data_u32(), Some(expected));
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
}

/// Parse the FTP packets out of one datagram (MAVLink 2 frames, CRC not
/// checked: loopback does not corrupt).
fn ftp_packets(datagram: &[u8]) -> Vec<FtpPacket> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= datagram.len() && datagram[at] == 0xFD {
        let len = datagram[at + 1] as usize;
        let id = u32::from_le_bytes([datagram[at + 7], datagram[at + 8], datagram[at + 9], 0]);
        let payload = &datagram[at + 10..(at + 10 + len).min(datagram.len())];
        if id == 110
            && payload.len() > 3
            && let Some(p) = FtpPacket::decode(&payload[3..])
        {
            out.push(p);
        }
        at += 12 + len;
    }
    out
}

/// Issue 9 item 12: at the server's default 3 MB/s pacing a client that
/// drains its socket slowly (pymavlink on a busy machine) lost hundreds of
/// KB of a burst. Here a client reads one packet per millisecond from a
/// socket with the default receive buffer: no burst packet may be lost.
#[test]
fn a_slow_reader_loses_no_burst_packet_at_the_server_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let link = Link::open("udpin://127.0.0.1:0", SERVER_SYS, SERVER_COMP).unwrap();
    let addr = link.local_addr().unwrap();
    let _server = Server::new(&link, tmp.path()).unwrap();
    for (chunk, len) in [(239usize, 300_000usize), (80, 100_000)] {
        let data = pattern(len, chunk as u32);
        fs::write(tmp.path().join("f.bin"), &data).unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let out = socket.try_clone().unwrap();
        let client = Link::open_custom(
            60,
            190,
            Box::new(move |bytes: &[u8]| {
                let _ = out.send_to(bytes, addr);
            }),
        )
        .unwrap();
        let mut seq = 10u16;
        let mut send = |op: Opcode, session: u8, offset: u32, body: &[u8]| {
            seq = seq.wrapping_add(2);
            let mut p = FtpPacket::request(op, seq);
            p.session = session;
            p.offset = offset;
            p.data = body.to_vec();
            client.send_ftp(SERVER_SYS, SERVER_COMP, &p).unwrap();
        };
        let mut buf = vec![0u8; 65536];
        let mut next_packet = |socket: &UdpSocket| -> FtpPacket {
            loop {
                let n = socket.recv(&mut buf).expect("nothing arrived for 3 s");
                if let Some(p) = ftp_packets(&buf[..n]).pop() {
                    return p;
                }
            }
        };
        send(Opcode::OpenFileRO, 0, 0, b"/f.bin");
        let open = next_packet(&socket);
        assert!(is_ack(&open));
        let mut have = 0usize;
        let start = Instant::now();
        'rounds: loop {
            assert!(start.elapsed() < Duration::from_secs(30));
            send(
                Opcode::BurstReadFile,
                open.session,
                have as u32,
                &vec![0; chunk],
            );
            loop {
                let p = next_packet(&socket);
                std::thread::sleep(Duration::from_millis(1));
                if p.opcode == Opcode::Nak {
                    assert_eq!(p.nak_code(), Some(NakCode::Eof));
                    assert_eq!(have, len);
                    break 'rounds;
                }
                assert_eq!(
                    p.offset as usize, have,
                    "chunk {chunk}: burst data lost before offset {}",
                    p.offset
                );
                assert_eq!(p.data, data[have..][..p.data.len()]);
                have += p.data.len();
                if p.burst_complete {
                    if p.data.len() < chunk {
                        let eof = next_packet(&socket);
                        assert_eq!(eof.nak_code(), Some(NakCode::Eof));
                        break 'rounds;
                    }
                    continue 'rounds;
                }
            }
        }
        assert_eq!(have, len);
        send(Opcode::TerminateSession, open.session, 0, &[]);
    }
}
