//! Valid starting inputs for every target (the stable driver mutates them;
//! `write_cargo_fuzz_seed_corpus` stores them as cargo-fuzz corpora).

use mavftp::protocol::{FtpPacket, ListingEntry, NakCode, Opcode, encode_listing_entry};

use super::client::{FILE_SIZES, OPS};
use super::server::request_record;

fn request(op: Opcode, seq: u16, session: u8, offset: u32, data: &[u8]) -> FtpPacket {
    let mut p = FtpPacket::request(op, seq);
    p.session = session;
    p.offset = offset;
    p.data = data.to_vec();
    p
}

fn ftp_record(sys: u8, comp: u8, ts: u8, tc: u8, packet: &FtpPacket) -> Vec<u8> {
    let wire = packet.encode();
    let len = 12 + packet.data.len();
    let mut out = vec![1, sys, comp, ts, tc, len as u8];
    out.extend_from_slice(&wire[..len]);
    out
}

/// Frame-parser inputs: records of raw bytes, FTP frames, other messages,
/// corrupted and cut frames (see `codec::frame_stream`).
pub fn frame_seeds() -> Vec<Vec<u8>> {
    let list = request(Opcode::ListDirectory, 7, 0, 0, b"/logs");
    let mut ack = FtpPacket::ack_for(&request(Opcode::ReadFile, 9, 1, 478, &[]), vec![0xAB; 239]);
    ack.burst_complete = true;
    let mut seeds = Vec::new();
    for chunking in 0..3u8 {
        let mut s = vec![chunking];
        s.extend(ftp_record(245, 190, 1, 1, &list));
        s.extend([0, 5, 0xFD, 0x00, 0xFE, 0x55, 0x01]); // raw garbage with start bytes
        s.extend(ftp_record(1, 1, 245, 190, &ack));
        // HEARTBEAT v1 and v2 (signed), then an unknown id.
        s.extend([2, 0x00, 7, 1, 1, 9, 0, 0, 0, 0, 2, 3, 0x51, 4, 3]);
        s.extend([2, 0x03, 8, 3, 1, 9, 0, 0, 0, 0, 2, 3, 0x51, 4, 3]);
        s.extend([2, 0x81, 0xEE, 0xEE, 0x00, 1, 2, 3, 1, 0xAA]);
        // A corrupted and a cut FTP frame between good ones.
        let mut bad = ftp_record(3, 3, 1, 1, &list);
        bad[0] = 3;
        bad.extend([20, 0x40]);
        s.extend(bad);
        let mut cut = ftp_record(4, 4, 1, 1, &ack);
        cut[0] = 4;
        cut.push(100);
        s.extend(cut);
        s.extend(ftp_record(245, 190, 1, 0, &list));
        seeds.push(s);
    }
    seeds
}

/// FTP payloads: requests, ACKs, NAKs, trimmed and full-size packets.
pub fn packet_seeds() -> Vec<Vec<u8>> {
    let read = request(Opcode::ReadFile, 0x1234, 3, 0x0102_0304, &[]);
    let packets = [
        request(Opcode::OpenFileRO, 1, 0, 0, b"/logs/flight.bin"),
        request(Opcode::Rename, 2, 0, 0, b"/a\0/b"),
        FtpPacket::ack_for(&read, (0..239).map(|i| i as u8).collect()),
        FtpPacket::ack_for(&read, vec![1, 2]),
        FtpPacket::nak_for(&read, NakCode::FailErrno, 21),
        FtpPacket::nak_for(&read, NakCode::Eof, 0),
        request(Opcode::Unknown(77), 0xFFFF, 255, u32::MAX, &[0; 239]),
    ];
    let mut seeds: Vec<Vec<u8>> = packets.iter().map(|p| p.encode().to_vec()).collect();
    let trimmed = packets[0].encode();
    let end = trimmed.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    seeds.push(trimmed[..end].to_vec());
    seeds
}

/// Listing data as servers send it (also read as structured entries).
pub fn listing_seeds() -> Vec<Vec<u8>> {
    let entries = [
        ListingEntry::File {
            name: "a.txt".into(),
            size: 12,
            mtime: Some(1_700_000_000),
        },
        ListingEntry::Directory {
            name: "logs".into(),
            mtime: Some(42),
        },
        ListingEntry::Skip,
        ListingEntry::File {
            name: "big.bin".into(),
            size: u64::MAX,
            mtime: Some(0),
        },
    ];
    let with_time: Vec<u8> = entries
        .iter()
        .flat_map(|e| encode_listing_entry(e, true))
        .collect();
    let plain: Vec<u8> = entries
        .iter()
        .flat_map(|e| encode_listing_entry(e, false))
        .collect();
    vec![
        with_time,
        plain,
        b"Fa\t1\0\0Fb\t2\0\0Dc\0".to_vec(),
        b"Fname with spaces\t99999999999999999999999\0D\0Xodd\0S".to_vec(),
        // Structured form: with_time flag, then kind, name length, name, size, mtime.
        {
            let mut s = vec![1u8];
            for (kind, name) in [(1u8, "f.txt"), (2, "dir"), (0, "")] {
                s.push(kind);
                s.push(name.len() as u8);
                s.extend(name.as_bytes());
                s.extend(1234u64.to_le_bytes());
                s.extend(1_700_000_000u64.to_le_bytes());
            }
            s
        },
    ]
}

/// Request sequences for the server target (see `server::requests`).
pub fn server_seeds() -> Vec<Vec<u8>> {
    use Opcode::*;
    let r = |op, seq, session, offset, data: &[u8]| request(op, seq, session, offset, data);
    let rec = |peer, p: FtpPacket| request_record(peer, false, true, &p);
    let mut seeds = vec![
        // Read a file, then burst another.
        [
            rec(0, r(OpenFileRO, 1, 1, 0, b"/a.txt")),
            rec(0, r(ReadFile, 2, 1, 0, &[0; 239])),
            rec(0, r(ReadFile, 3, 1, 239, &[0; 239])),
            rec(0, r(TerminateSession, 4, 1, 0, &[])),
            rec(1, r(OpenFileRO, 10, 5, 0, b"/big.bin")),
            rec(1, r(BurstReadFile, 11, 5, 0, &[0; 239])),
            rec(1, r(BurstReadFile, 12, 5, 2000, &[0; 100])),
            rec(1, r(TerminateSession, 13, 5, 0, &[])),
        ]
        .concat(),
        // Listings, with and without times, of dirs and symlinks.
        [
            rec(0, r(ListDirectory, 1, 0, 0, b"/")),
            rec(0, r(ListDirectory, 2, 0, 3, b"/")),
            rec(2, r(ListDirectoryWithTime, 1, 0, 0, b"/sub")),
            rec(2, r(ListDirectory, 2, 0, 0, b"/link_out")),
            rec(2, r(ListDirectory, 3, 0, 0, b"/../outside")),
            rec(1, r(ListDirectory, 3, 0, 0, b"/a.txt")),
        ]
        .concat(),
        // Writes, truncation, CRC, rename, remove.
        [
            rec(0, r(CreateFile, 1, 2, 0, b"/new.bin")),
            rec(0, r(WriteFile, 2, 2, 0, &[7; 200])),
            rec(0, r(WriteFile, 3, 2, 1000, b"tail")),
            rec(0, r(TerminateSession, 4, 2, 0, &[])),
            rec(0, r(TruncateFile, 5, 0, 10, b"/new.bin")),
            rec(0, r(CalcFileCRC32, 6, 0, 0, b"/new.bin")),
            rec(0, r(OpenFileWO, 7, 3, 0, b"/new.bin")),
            rec(0, r(WriteFile, 8, 3, 5, b"mid")),
            rec(0, r(Rename, 9, 0, 0, b"/new.bin\0/sub/moved.bin")),
            rec(0, r(CreateDirectory, 10, 0, 0, b"/made")),
            rec(0, r(RemoveDirectory, 11, 0, 0, b"/made")),
            rec(0, r(RemoveFile, 12, 0, 0, b"/sub/moved.bin")),
        ]
        .concat(),
        // Attempts to leave the root.
        [
            rec(0, r(OpenFileRO, 1, 1, 0, b"/../outside/secret.txt")),
            rec(0, r(OpenFileRO, 2, 1, 0, b"/link_out/secret.txt")),
            rec(0, r(OpenFileRO, 3, 1, 0, b"/link_out_file")),
            rec(0, r(ReadFile, 4, 1, 0, &[0; 239])),
            rec(0, r(CreateFile, 5, 2, 0, b"/link_dangling")),
            rec(0, r(CreateFile, 6, 2, 0, b"/link_out/evil")),
            rec(0, r(OpenFileWO, 7, 2, 0, b"/link_out_file")),
            rec(0, r(WriteFile, 8, 2, 0, b"pwned")),
            rec(0, r(CreateDirectory, 9, 0, 0, b"/link_out/d")),
            rec(0, r(RemoveDirectory, 10, 0, 0, b"/link_out/inner")),
            rec(0, r(RemoveFile, 11, 0, 0, b"/link_out/secret.txt")),
            rec(0, r(RemoveFile, 12, 0, 0, b"/link_out")),
            rec(0, r(Rename, 13, 0, 0, b"/a.txt\0/../outside/x")),
            rec(0, r(Rename, 14, 0, 0, b"/link_out/secret.txt\0/stolen")),
            rec(0, r(TruncateFile, 15, 0, 0, b"/link_out_file")),
            rec(0, r(CalcFileCRC32, 16, 0, 0, b"/link_out/secret.txt")),
            rec(0, r(RemoveDirectory, 17, 0, 0, b"/")),
            rec(0, r(RemoveFile, 18, 0, 0, b"/sub/../..")),
        ]
        .concat(),
    ];
    // Sessions: many opens, resets, foreign terminates, odd opcodes and sizes.
    let mut s = Vec::new();
    for i in 0..10u8 {
        s.extend(rec(
            (i % 3) as usize,
            r(OpenFileRO, i as u16 * 2, i, 0, b"/a.txt"),
        ));
    }
    s.extend(rec(1, r(TerminateSession, 100, 0, 0, &[])));
    s.extend(rec(2, r(ResetSessions, 101, 0, 0, &[])));
    s.extend(rec(0, r(Unknown(77), 102, 0, 0, b"x")));
    s.extend(rec(
        0,
        FtpPacket::ack_for(&r(ReadFile, 103, 0, 0, &[]), vec![1]),
    ));
    let mut oversize = rec(0, r(ListDirectory, 104, 0, 0, b"/"));
    oversize[5] = 250; // size field beyond 239 (data follows as far as the input goes)
    s.extend(oversize);
    s.extend(request_record(
        3,
        false,
        true,
        &r(ListDirectory, 105, 0, 0, b"/"),
    ));
    s.extend(request_record(
        3,
        true,
        true,
        &r(OpenFileRO, 106, 0, 0, b"/a.txt"),
    ));
    s.extend(request_record(
        0,
        true,
        false,
        &r(ListDirectory, 107, 0, 0, b"/"),
    ));
    seeds.push(s);
    seeds
}

/// Client cases: every operation and file size, first with every frame
/// delivered, then with a few decisions (drop, duplicate, hold, mutated
/// copies, foreign frames).
pub fn client_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for op in 0..OPS.len() as u8 {
        for size in 0..FILE_SIZES.len() as u8 {
            seeds.push(vec![op, size]);
        }
        let decisions: [&[u8]; 6] = [
            &[0, 0, 1, 0, 2, 0, 3, 0, 0, 1],
            &[0x10, 0, 1, 0x10, 1, 7, 0x10, 3, 3],
            &[0x10, 4, 1, 0x10, 2, 9, 0x11, 5, 0],
            &[0x14, 2, 1, 3, 0, 0x18, 0, 0x1C, 6],
            &[0x10, 6, 0, 0x10, 7, 1, 0x12, 4, 2, 0x13, 0, 0],
            &[1, 1, 1, 2, 2, 2, 3, 3, 3, 0x10, 0, 200],
        ];
        for (i, d) in decisions.iter().enumerate() {
            let mut s = vec![op, 4 + (i % 3) as u8];
            s.extend_from_slice(d);
            seeds.push(s);
        }
    }
    seeds
}
