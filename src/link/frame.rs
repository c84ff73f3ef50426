//! MAVLink framing: an incremental parser for MAVLink 1 and 2 frames (any
//! chunking, garbage and bad CRCs skipped without losing sync) and the
//! serializer for the two messages we send (FILE_TRANSFER_PROTOCOL, HEARTBEAT).

use mavlink::dialects::common::{
    HEARTBEAT_DATA, MavAutopilot, MavMessage, MavModeFlag, MavState, MavType,
};
use mavlink::{MAVLinkV2MessageRaw, MavHeader, Message};

use crate::protocol::{
    FILE_TRANSFER_PROTOCOL_CRC_EXTRA, FILE_TRANSFER_PROTOCOL_ID, FtpPacket, PAYLOAD_LEN,
};

/// MAVLink 1 start byte.
const STX_V1: u8 = 0xFE;
/// MAVLink 2 start byte.
pub(crate) const STX_V2: u8 = 0xFD;
/// MAVLink 2 incompatibility flag: the frame carries a 13-byte signature.
pub(crate) const IFLAG_SIGNED: u8 = 0x01;
/// Length of a MAVLink 2 signature block.
pub(crate) const SIGNATURE_LEN: usize = 13;

/// One validated frame, borrowed from the parser's input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawFrame<'a> {
    /// Sender's system id (low byte for MAVLink 2 frames).
    pub system_id: u8,
    /// Sender's component id.
    pub component_id: u8,
    /// Message id.
    pub message_id: u32,
    /// The payload as sent (MAVLink 2 may have trimmed trailing zeros).
    pub payload: &'a [u8],
    /// Whether it is a MAVLink 2 frame with a signature block (not verified here).
    pub signed: bool,
    /// The whole frame, start marker to the last signature byte.
    pub bytes: &'a [u8],
}

/// The MAVLink frame checksum (CRC-16/MCRF4XX, the X.25 CRC: reflected
/// polynomial 0x1021, initial value 0xFFFF, no final XOR) over `bytes` (the
/// frame after its start marker, up to the checksum) and then the message's
/// CRC_EXTRA byte. Table-driven, eight bytes per step ("slicing by 8"): the
/// bit-by-bit `mavlink::calculate_crc` cost about 14 M instructions per MB
/// of file on each side of a transfer.
pub(crate) fn frame_crc(bytes: &[u8], extra: u8) -> u16 {
    let t = &CRC_TABLES;
    let mut crc = 0xFFFFu16;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        // The register's two bytes combine with the first two of the chunk;
        // byte j is then followed by 7 − j more bytes (table 7 − j).
        let [lo, hi] = crc.to_le_bytes();
        crc = t[7][usize::from(c[0] ^ lo)]
            ^ t[6][usize::from(c[1] ^ hi)]
            ^ t[5][usize::from(c[2])]
            ^ t[4][usize::from(c[3])]
            ^ t[3][usize::from(c[4])]
            ^ t[2][usize::from(c[5])]
            ^ t[1][usize::from(c[6])]
            ^ t[0][usize::from(c[7])];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][usize::from((crc as u8) ^ b)];
    }
    (crc >> 8) ^ t[0][usize::from((crc as u8) ^ extra)]
}

/// `CRC_TABLES[k][i]`: the CRC register (from zero) after byte `i` and `k`
/// zero bytes, for [`frame_crc`].
const CRC_TABLES: [[u16; 256]; 8] = {
    let mut tables = [[0u16; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev >> 8) ^ tables[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
};

/// Length of `payload` without its trailing zero bytes, at least 1 (MAVLink
/// 2 payload truncation), eight bytes at a time.
fn trimmed_len(payload: &[u8]) -> usize {
    let mut len = payload.len();
    while len >= 9 {
        let word = u64::from_ne_bytes(payload[len - 8..len].try_into().unwrap_or([1; 8]));
        if word != 0 {
            break;
        }
        len -= 8;
    }
    while len > 1 && payload[len - 1] == 0 {
        len -= 1;
    }
    len
}

/// CRC_EXTRA of a message id, or None when the dialect does not know it.
pub(crate) fn extra_crc(message_id: u32) -> Option<u8> {
    if message_id == FILE_TRANSFER_PROTOCOL_ID {
        return Some(FILE_TRANSFER_PROTOCOL_CRC_EXTRA);
    }
    let extra = MavMessage::extra_crc(message_id);
    // The generated table answers 0 for unknown ids; a few real messages may
    // have 0 too, so only then pay for the slower lookup.
    if extra == 0 && MavMessage::default_message_from_id(message_id).is_none() {
        return None;
    }
    Some(extra)
}

/// What the bytes at a start marker turned out to be.
enum Candidate<'a> {
    /// More bytes are needed to decide.
    NeedMore,
    /// Not a frame we can accept (bad CRC, unknown id, bad flags): skip the marker.
    Reject,
    /// A valid frame of `len` bytes.
    Frame(RawFrame<'a>, usize),
}

fn check_frame(data: &[u8]) -> Candidate<'_> {
    let Some(&stx) = data.first() else {
        return Candidate::NeedMore;
    };
    let Some(&len) = data.get(1) else {
        return Candidate::NeedMore;
    };
    let len = len as usize;
    let (header_len, total, message_id, system_id, component_id, signed) = if stx == STX_V1 {
        let total = 6 + len + 2;
        if data.len() < total {
            return Candidate::NeedMore;
        }
        (6, total, data[5] as u32, data[3], data[4], false)
    } else {
        if data.len() < 3 {
            return Candidate::NeedMore;
        }
        let incompat = data[2];
        if incompat & !IFLAG_SIGNED != 0 {
            return Candidate::Reject;
        }
        let signed = incompat & IFLAG_SIGNED != 0;
        let signature = if signed { SIGNATURE_LEN } else { 0 };
        let total = 10 + len + 2 + signature;
        if data.len() < total {
            return Candidate::NeedMore;
        }
        let id = data[7] as u32 | (data[8] as u32) << 8 | (data[9] as u32) << 16;
        (10, total, id, data[5], data[6], signed)
    };
    let Some(extra) = extra_crc(message_id) else {
        return Candidate::Reject;
    };
    let crc_at = header_len + len;
    let wire_crc = u16::from_le_bytes([data[crc_at], data[crc_at + 1]]);
    if frame_crc(&data[1..crc_at], extra) != wire_crc {
        return Candidate::Reject;
    }
    Candidate::Frame(
        RawFrame {
            system_id,
            component_id,
            message_id,
            payload: &data[header_len..crc_at],
            signed,
            bytes: &data[..total],
        },
        total,
    )
}

/// Parse as many frames as possible from `data`; returns how many bytes were
/// consumed (the rest is an incomplete candidate frame to keep).
fn parse_slice(data: &[u8], on_frame: &mut impl FnMut(RawFrame<'_>)) -> usize {
    let mut at = 0;
    loop {
        match data[at..].iter().position(|&b| b == STX_V1 || b == STX_V2) {
            None => return data.len(),
            Some(skip) => at += skip,
        }
        match check_frame(&data[at..]) {
            Candidate::NeedMore if complete_frame_follows(&data[at + 1..]) => at += 1,
            Candidate::NeedMore => return at,
            Candidate::Reject => at += 1,
            Candidate::Frame(frame, len) => {
                on_frame(frame);
                at += len;
            }
        }
    }
}

/// Whether a complete valid frame starts somewhere in `data`. A candidate that
/// still waits for bytes while a whole frame already follows it had a corrupt
/// length byte: waiting for it would swallow the good frames behind it.
fn complete_frame_follows(data: &[u8]) -> bool {
    let mut at = 0;
    while let Some(skip) = data[at..].iter().position(|&b| b == STX_V1 || b == STX_V2) {
        at += skip;
        if let Candidate::Frame(..) = check_frame(&data[at..]) {
            return true;
        }
        at += 1;
    }
    false
}

/// Incremental MAVLink 1/2 parser. Bytes may arrive in any chunking; frames
/// whose CRC fails or whose id is unknown are skipped one byte at a time, so a
/// real frame that follows (or overlaps the bad one) is still found.
#[derive(Default)]
pub(crate) struct FrameParser {
    pending: Vec<u8>,
}

impl FrameParser {
    /// A parser with nothing buffered.
    pub fn new() -> FrameParser {
        FrameParser {
            pending: Vec::with_capacity(512),
        }
    }

    /// Forget a buffered partial frame (a new datagram starts afresh).
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// Consume `bytes`, calling `on_frame` for each complete valid frame.
    pub fn push(&mut self, bytes: &[u8], mut on_frame: impl FnMut(RawFrame<'_>)) {
        if self.pending.is_empty() {
            // Fast path (whole datagrams): parse in place, keep only a tail.
            let used = parse_slice(bytes, &mut on_frame);
            self.pending.extend_from_slice(&bytes[used..]);
        } else {
            self.pending.extend_from_slice(bytes);
            let used = parse_slice(&self.pending, &mut on_frame);
            self.pending.drain(..used);
        }
    }
}

/// Longest MAVLink 2 frame: 10 header bytes, 255 payload bytes, 2 CRC bytes
/// and a 13-byte signature.
pub(crate) const MAX_FRAME_LEN: usize = 10 + 255 + 2 + SIGNATURE_LEN;
/// MAVLink 2 header bytes before the payload.
const V2_HEADER_LEN: usize = 10;
/// FILE_TRANSFER_PROTOCOL payload bytes before the FTP packet (target
/// network, system, component).
const FTP_TARGET_LEN: usize = 3;

/// Builds the frames we send, with our ids and an incrementing sequence.
pub(crate) struct FrameWriter {
    system_id: u8,
    component_id: u8,
    sequence: u8,
    raw: MAVLinkV2MessageRaw,
    /// The frame built last.
    buf: [u8; MAX_FRAME_LEN],
    len: usize,
    /// The last frame, signed (when the link signs).
    signed: Vec<u8>,
}

impl FrameWriter {
    /// A writer for frames from (system_id, component_id).
    pub fn new(system_id: u8, component_id: u8) -> FrameWriter {
        FrameWriter {
            system_id,
            component_id,
            sequence: 0,
            raw: MAVLinkV2MessageRaw::new(),
            buf: [0; MAX_FRAME_LEN],
            len: 0,
            signed: Vec::with_capacity(300),
        }
    }

    /// The frame built last and the buffer for its signed copy (the link's
    /// signing state fills it when it holds a key).
    pub fn last_frame(&mut self) -> (&[u8], &mut Vec<u8>) {
        (&self.buf[..self.len], &mut self.signed)
    }

    fn next_header(&mut self) -> MavHeader {
        let header = MavHeader {
            system_id: self.system_id as u32,
            component_id: self.component_id,
            sequence: self.sequence,
        };
        self.sequence = self.sequence.wrapping_add(1);
        header
    }

    /// A FILE_TRANSFER_PROTOCOL frame (MAVLink 2) carrying `packet`, built
    /// in place (the same bytes as the mavlink crate's serializer: trailing
    /// zeros of the payload trimmed, at least one payload byte kept).
    pub fn ftp(&mut self, target_system: u8, target_component: u8, packet: &FtpPacket) -> &[u8] {
        let sequence = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        let id = FILE_TRANSFER_PROTOCOL_ID.to_le_bytes();
        let payload_at = V2_HEADER_LEN;
        let ftp_at = payload_at + FTP_TARGET_LEN;
        let buf = &mut self.buf;
        buf[..payload_at].copy_from_slice(&[
            STX_V2,
            0, // the payload length, below
            0,
            0,
            sequence,
            self.system_id,
            self.component_id,
            id[0],
            id[1],
            id[2],
        ]);
        buf[payload_at..ftp_at].copy_from_slice(&[0, target_system, target_component]);
        let ftp_len = packet.encode_into(&mut buf[ftp_at..ftp_at + PAYLOAD_LEN]);
        let len = trimmed_len(&buf[payload_at..ftp_at + ftp_len]);
        buf[1] = len as u8;
        let crc_at = payload_at + len;
        let crc = frame_crc(&buf[1..crc_at], FILE_TRANSFER_PROTOCOL_CRC_EXTRA);
        buf[crc_at..crc_at + 2].copy_from_slice(&crc.to_le_bytes());
        self.len = crc_at + 2;
        &self.buf[..self.len]
    }

    /// A HEARTBEAT frame: an autopilot when our component id is 1 (MAVSDK's
    /// autopilot discovery wants compid 1 and an autopilot other than
    /// INVALID), a ground station otherwise.
    pub fn heartbeat(&mut self) -> &[u8] {
        let header = self.next_header();
        let autopilot = self.component_id == 1;
        let data = HEARTBEAT_DATA {
            custom_mode: 0,
            mavtype: if autopilot {
                MavType::MAV_TYPE_QUADROTOR
            } else {
                MavType::MAV_TYPE_GCS
            },
            autopilot: if autopilot {
                MavAutopilot::MAV_AUTOPILOT_GENERIC
            } else {
                MavAutopilot::MAV_AUTOPILOT_INVALID
            },
            base_mode: if autopilot {
                MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
            } else {
                MavModeFlag::empty()
            },
            system_status: MavState::MAV_STATE_ACTIVE,
            mavlink_version: 3,
        };
        self.raw.serialize_message_data(header, &data);
        let raw = self.raw.raw_bytes();
        self.len = raw.len();
        self.buf[..self.len].copy_from_slice(raw);
        &self.buf[..self.len]
    }
}

/// Split a FILE_TRANSFER_PROTOCOL payload (possibly trimmed) into
/// (target_system, target_component, 251-byte FTP payload slice).
pub(crate) fn split_ftp_payload(payload: &[u8]) -> (u8, u8, &[u8]) {
    let target_system = payload.get(1).copied().unwrap_or(0);
    let target_component = payload.get(2).copied().unwrap_or(0);
    let ftp = payload.get(3..).unwrap_or(&[]);
    (target_system, target_component, ftp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(parser: &mut FrameParser, bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
        let mut out = Vec::new();
        parser.push(bytes, |f| {
            out.push((
                f.system_id,
                f.component_id,
                f.message_id,
                f.payload.to_vec(),
            ))
        });
        out
    }

    fn sample_ftp(seq: u8) -> Vec<u8> {
        let mut w = FrameWriter::new(7, 9);
        w.sequence = seq;
        let mut packet = FtpPacket::request(crate::protocol::Opcode::None, u16::from(seq));
        packet.data = b"abc".to_vec();
        w.ftp(1, 2, &packet).to_vec()
    }

    /// A small deterministic PRNG (xorshift64*) for the equivalence tests.
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    #[test]
    fn table_crc_equals_the_mavlink_crates_crc() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..300usize {
            let bytes: Vec<u8> = (0..len).map(|_| rng(&mut state) as u8).collect();
            let extra = rng(&mut state) as u8;
            assert_eq!(
                frame_crc(&bytes, extra),
                mavlink::calculate_crc(&bytes, extra),
                "{len} bytes, extra {extra}"
            );
        }
        // The CRC-16/MCRF4XX check value: "123456789" gives 0x6F91, so
        // "12345678" with the extra byte b'9' does.
        assert_eq!(frame_crc(b"12345678", b'9'), 0x6F91);
    }

    #[test]
    fn ftp_frames_are_byte_identical_to_the_mavlink_crates_serializer() {
        use crate::protocol::{MAX_DATA, Opcode};
        use mavlink::dialects::common::FILE_TRANSFER_PROTOCOL_DATA;
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        let mut ours = FrameWriter::new(245, 190);
        let mut raw = MAVLinkV2MessageRaw::new();
        for i in 0..2000u32 {
            let mut p = FtpPacket::request(
                Opcode::from_u8(rng(&mut state) as u8),
                rng(&mut state) as u16,
            );
            p.session = rng(&mut state) as u8;
            p.req_opcode = Opcode::from_u8(rng(&mut state) as u8);
            p.burst_complete = rng(&mut state) & 1 == 0;
            // Many zeros: trailing-zero trimming reaches into the header.
            p.offset = if i % 3 == 0 {
                0
            } else {
                rng(&mut state) as u32
            };
            let len = (rng(&mut state) as usize) % (MAX_DATA + 1);
            p.data = (0..len)
                .map(|_| if i % 2 == 0 { 0 } else { rng(&mut state) as u8 })
                .collect();
            if i % 5 == 0 {
                p = FtpPacket::request(Opcode::None, 0);
            }
            let (ts, tc) = (rng(&mut state) as u8, rng(&mut state) as u8);
            let header = MavHeader {
                system_id: 245,
                component_id: 190,
                sequence: ours.sequence,
            };
            raw.serialize_message_data(
                header,
                &FILE_TRANSFER_PROTOCOL_DATA {
                    target_network: 0,
                    target_system: ts,
                    target_component: tc,
                    payload: p.encode(),
                },
            );
            assert_eq!(ours.ftp(ts, tc, &p), raw.raw_bytes(), "packet {i}: {p:?}");
        }
    }

    #[test]
    fn serialized_ftp_frame_parses_back() {
        let frame = sample_ftp(5);
        let mut parser = FrameParser::new();
        let frames = frames_of(&mut parser, &frame);
        assert_eq!(frames.len(), 1);
        let (sys, comp, id, payload) = &frames[0];
        assert_eq!((*sys, *comp, *id), (7, 9, 110));
        let (ts, tc, ftp) = split_ftp_payload(payload);
        assert_eq!((ts, tc), (1, 2));
        assert_eq!(ftp[0], 5);
        assert_eq!(&ftp[12..15], b"abc");
    }

    #[test]
    fn split_at_every_position_still_yields_the_frame() {
        let mut stream = sample_ftp(1);
        stream.extend(sample_ftp(2));
        for cut in 0..=stream.len() {
            let mut parser = FrameParser::new();
            let mut got = frames_of(&mut parser, &stream[..cut]);
            got.extend(frames_of(&mut parser, &stream[cut..]));
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(got[0].3[3], 1);
            assert_eq!(got[1].3[3], 2);
        }
    }

    #[test]
    fn byte_by_byte_feed_yields_every_frame() {
        let mut stream = Vec::new();
        for i in 0..5 {
            stream.extend(sample_ftp(i));
        }
        let mut parser = FrameParser::new();
        let mut n = 0;
        for b in &stream {
            n += frames_of(&mut parser, std::slice::from_ref(b)).len();
        }
        assert_eq!(n, 5);
    }

    #[test]
    fn garbage_and_bad_crc_between_frames_are_skipped() {
        let good1 = sample_ftp(1);
        let good2 = sample_ftp(2);
        let mut bad = sample_ftp(3);
        let mid = bad.len() / 2;
        bad[mid] ^= 0x10;
        let mut stream = vec![0x00, 0xFD, 0xFE, 0x55, 0xFD];
        stream.extend(&good1);
        stream.extend([0xFE, 0x09, 0x00]);
        stream.extend(&bad);
        stream.extend(&good2);
        // A truncated frame followed by a good one: the good one must survive.
        stream.extend(&sample_ftp(4)[..20]);
        stream.extend(&good1);
        let mut parser = FrameParser::new();
        let got = frames_of(&mut parser, &stream);
        let seqs: Vec<u8> = got
            .iter()
            .map(|f| f.3.get(3).copied().unwrap_or(0xAA))
            .collect();
        assert_eq!(seqs, vec![1, 2, 1]);
    }

    #[test]
    fn mavlink1_heartbeat_is_accepted_and_unknown_ids_rejected() {
        // MAVLink 1 HEARTBEAT from sys 3 comp 1, built by hand.
        let payload = [0u8, 0, 0, 0, 2, 3, 0, 4, 3];
        let mut frame = vec![STX_V1, 9, 0, 3, 1, 0];
        frame.extend(payload);
        let crc = frame_crc(&frame[1..], 50);
        frame.extend(crc.to_le_bytes());
        let mut parser = FrameParser::new();
        let got = frames_of(&mut parser, &frame);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0, got[0].1, got[0].2), (3, 1, 0));

        // Same frame with an id the dialect does not know (and a CRC made with extra 0).
        let mut unknown = vec![STX_V2, 1, 0, 0, 0, 3, 1, 0xEE, 0xEE, 0x00, 7];
        let crc = frame_crc(&unknown[1..], 0);
        unknown.extend(crc.to_le_bytes());
        unknown.extend(&frame);
        let got = frames_of(&mut parser, &unknown);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].2, 0);
    }

    #[test]
    fn corrupt_length_byte_does_not_swallow_the_frames_behind_it() {
        let mut parser = FrameParser::new();
        let mut bad = sample_ftp(1);
        bad[1] |= 0x80; // the length now claims far more bytes than follow
        let mut stream = bad;
        stream.extend_from_slice(&sample_ftp(2));
        stream.extend_from_slice(&sample_ftp(3));
        let got = frames_of(&mut parser, &stream);
        assert_eq!(got.len(), 2, "both good frames must come out at once");
    }

    #[test]
    fn heartbeat_frames_parse() {
        let mut w = FrameWriter::new(1, 1);
        let hb = w.heartbeat().to_vec();
        let mut parser = FrameParser::new();
        let got = frames_of(&mut parser, &hb);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].2, 0);
        // type QUADROTOR (2), autopilot GENERIC (0)
        assert_eq!(got[0].3[4], 2);
    }
}
