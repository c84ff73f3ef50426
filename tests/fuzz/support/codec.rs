//! Targets without threads: the frame parser (through `Link::open_custom` and
//! `Link::feed`), the FTP packet codec and the listing codec.

use mavftp::Link;
use mavftp::protocol::{
    FtpPacket, ListingEntry, MAX_DATA, Opcode, PAYLOAD_LEN, encode_listing_entry, nak_to_error,
    parse_listing,
};

use super::input::Bytes;
use super::wire::{
    FTP_ID, FrameSpec, RefFrame, all_valid_frames, any_overlap, encode_frame, ftp_frame,
    reference_scan,
};

/// Message ids the frame builder picks from (known, unknown, 24-bit).
const OTHER_IDS: [u32; 8] = [0, 1, 33, 110, 111, 253, 0xEEEE, 12_915];

/// Build the byte stream of a frame-parser case from records:
/// raw bytes, valid FTP frames, other messages (v1/v2, signed), and valid
/// frames corrupted or cut. Returns (chunking seed, stream).
pub fn frame_stream(data: &[u8]) -> (u8, Vec<u8>) {
    let mut input = Bytes::new(data);
    let chunk_seed = input.u8_or0();
    let mut stream = Vec::new();
    while let Some(kind) = input.u8() {
        match kind % 5 {
            0 => {
                let n = input.u8_or0() as usize % 64;
                stream.extend_from_slice(input.take(n));
            }
            1 | 3 | 4 => {
                let (sys, comp, ts, tc) = (
                    input.u8_or0(),
                    input.u8_or0(),
                    input.u8_or0(),
                    input.u8_or0(),
                );
                let n = input.u8_or0() as usize % (PAYLOAD_LEN + 1);
                let mut frame = ftp_frame(sys, comp, ts, tc, input.take(n));
                if kind % 5 == 3 {
                    let at = input.u8_or0() as usize % frame.len();
                    frame[at] ^= input.u8().unwrap_or(1).max(1);
                } else if kind % 5 == 4 {
                    frame.truncate(input.u8_or0() as usize % frame.len());
                }
                stream.extend(frame);
            }
            _ => {
                let flags = input.u8_or0();
                let id = if flags & 0x80 != 0 {
                    input.u16_le() as u32 | (input.u8_or0() as u32) << 16
                } else {
                    OTHER_IDS[(flags >> 4) as usize % OTHER_IDS.len()]
                };
                let v2 = flags & 1 != 0 || id > 255;
                let spec = FrameSpec {
                    v2,
                    signed: v2 && flags & 2 != 0,
                    seq: input.u8_or0(),
                    sys: input.u8_or0(),
                    comp: input.u8_or0(),
                    message_id: id,
                    payload: {
                        let n = input.u8_or0() as usize;
                        input.take(n).to_vec()
                    },
                };
                stream.extend(encode_frame(&spec));
            }
        }
    }
    (chunk_seed, stream)
}

/// What a subscriber sees of one FTP frame.
type Delivered = (u8, u8, u8, u8, FtpPacket);

/// The FTP frames among `frames` as a link delivers them (frames whose
/// packet does not decode are consumed but not delivered).
fn expected_deliveries(frames: &[RefFrame]) -> Vec<Delivered> {
    frames
        .iter()
        .filter(|f| f.message_id == FTP_ID)
        .filter_map(|f| {
            let (ts, tc, ftp) = f.ftp_parts();
            FtpPacket::decode(ftp).map(|p| (f.sys, f.comp, ts, tc, p))
        })
        .collect()
}

/// Feed `stream` into a fresh custom link in pieces of `chunks` bytes
/// (the last piece takes the rest); returns what a catch-all subscriber got.
fn feed_link(stream: &[u8], chunks: &[usize], check_heard: &[RefFrame]) -> Vec<Delivered> {
    let link = Link::open_custom(251, 251, Box::new(|_: &[u8]| {})).expect("custom link");
    let sub = link.subscribe(|_| true);
    let mut at = 0;
    for &n in chunks {
        let end = (at + n).min(stream.len());
        link.feed(&stream[at..end]).expect("feed");
        at = end;
    }
    link.feed(&stream[at..]).expect("feed");
    for f in check_heard {
        assert!(
            link.has_heard(f.sys, f.comp),
            "a valid frame from {}:{} (id {}) at byte {} was not heard",
            f.sys,
            f.comp,
            f.message_id,
            f.start
        );
    }
    sub.receiver
        .try_iter()
        .map(|m| {
            (
                m.source_system,
                m.source_component,
                m.target_system,
                m.target_component,
                m.packet,
            )
        })
        .collect()
}

/// Frame parser: fed at once, a link delivers exactly the FTP frames of the
/// reference scan (sound and complete) and hears every valid frame's sender;
/// fed in random pieces it delivers the same, unless valid frames overlap
/// (then it may pick differently, but only ever delivers valid frames).
pub fn frame_parser(data: &[u8]) {
    let (chunk_seed, stream) = frame_stream(data);
    let reference = reference_scan(&stream);
    let expected = expected_deliveries(&reference);
    let whole = feed_link(&stream, &[], &reference);
    assert_eq!(whole, expected, "stream fed at once");

    let mut rng = mavftp::link::sim::SplitMix64::new(chunk_seed as u64);
    let mut chunks = Vec::new();
    let mut total = 0;
    while total < stream.len() {
        let n = match chunk_seed % 3 {
            0 => 1,
            1 => 1 + rng.below(300) as usize,
            _ => 1 + rng.below(17) as usize,
        };
        chunks.push(n);
        total += n;
    }
    let chunked = feed_link(&stream, &chunks, &[]);
    let all = all_valid_frames(&stream);
    if !any_overlap(&all) {
        assert_eq!(chunked, expected, "stream fed in pieces {chunks:?}");
    } else {
        let possible = expected_deliveries(&all);
        for d in &chunked {
            assert!(
                possible.contains(d),
                "delivered a frame that is not a valid frame of the stream: {d:?}"
            );
        }
    }
}

/// FTP packet codec: decode accepts exactly the payloads whose size field is
/// at most 239; encode(decode(x)) is x in canonical form (zero-filled,
/// burst_complete 0/1, padding 0, bytes past `size` zero); decode(encode(p))
/// == p for every packet built from valid fields; the NAK helpers never panic.
pub fn ftp_packet(data: &[u8]) {
    let decoded = FtpPacket::decode(data);
    let size = data.get(4).copied().unwrap_or(0) as usize;
    assert_eq!(decoded.is_some(), size <= MAX_DATA, "size field {size}");
    if let Some(p) = &decoded {
        assert_eq!(p.data.len(), size);
        let mut canonical = [0u8; PAYLOAD_LEN];
        let n = data.len().min(PAYLOAD_LEN);
        canonical[..n].copy_from_slice(&data[..n]);
        canonical[6] = (canonical[6] != 0) as u8;
        canonical[7] = 0;
        canonical[12 + size..].fill(0);
        assert_eq!(p.encode(), canonical, "re-encoding a decoded packet");
        assert_eq!(FtpPacket::decode(&p.encode()).as_ref(), Some(p));
        let _ = (p.nak_code(), p.nak_errno(), p.data_u32());
        let _ = nak_to_error(p, "fuzz");
    }
    // A packet from fields: seq, session, opcode, req_opcode, bc, offset, data.
    let mut input = Bytes::new(data);
    let packet = FtpPacket {
        seq: input.u16_le(),
        session: input.u8_or0(),
        opcode: Opcode::from_u8(input.u8_or0()),
        req_opcode: Opcode::from_u8(input.u8_or0()),
        burst_complete: input.u8_or0() & 1 == 1,
        offset: input.u32_le(),
        data: {
            let n = input.u8_or0() as usize % (MAX_DATA + 1);
            input.take(n).to_vec()
        },
    };
    let wire = packet.encode();
    assert_eq!(wire[4] as usize, packet.data.len());
    assert_eq!(FtpPacket::decode(&wire), Some(packet.clone()), "round trip");
    // MAVLink 2 trims trailing zeros: a trimmed payload decodes the same.
    let trimmed = wire.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    assert_eq!(FtpPacket::decode(&wire[..trimmed]), Some(packet));
}

/// A name that survives the listing format unchanged: non-empty, no NUL, tab,
/// slash or line break, not `.`/`..`.
fn plain_name(raw: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(raw).ok()?;
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['\0', '\t', '/', '\n', '\r']);
    ok.then(|| name.to_string())
}

/// Listing codec: parsing arbitrary bytes never panics, counts every
/// non-empty NUL-separated string (S included) and returns at most that many
/// entries, none with a NUL in its name; entries with plain names survive
/// encode → parse unchanged, with and without times.
pub fn listing(data: &[u8]) {
    let (entries, counted) = parse_listing(data);
    let segments = data.split(|&b| b == 0).filter(|s| !s.is_empty()).count();
    assert_eq!(counted as usize, segments);
    assert!(entries.len() <= segments);
    for e in &entries {
        if let ListingEntry::File { name, .. } | ListingEntry::Directory { name, .. } = e {
            assert!(!name.contains('\0'));
        }
    }
    let mut input = Bytes::new(data);
    let with_time = input.u8_or0() & 1 == 1;
    let mut built = Vec::new();
    while let Some(kind) = input.u8() {
        let n = input.u8_or0() as usize % 64;
        let raw = input.take(n);
        let size = input.u64_le();
        let mtime = input.u64_le();
        let mtime = with_time.then_some(mtime);
        let entry = match kind % 3 {
            0 => ListingEntry::Skip,
            1 => match plain_name(raw) {
                Some(name) => ListingEntry::File { name, size, mtime },
                None => continue,
            },
            _ => match plain_name(raw) {
                Some(name) => ListingEntry::Directory { name, mtime },
                None => continue,
            },
        };
        built.push(entry);
    }
    let wire: Vec<u8> = built
        .iter()
        .flat_map(|e| encode_listing_entry(e, with_time))
        .collect();
    let (parsed, counted) = parse_listing(&wire);
    assert_eq!(counted as usize, built.len());
    assert_eq!(parsed, built, "listing round trip (with_time {with_time})");
}
