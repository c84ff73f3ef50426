//! MAVLink framing written independently of the library, as the oracle of the
//! frame-parser target and the encoder of the frames the other targets feed:
//! the X.25 CRC, a frame builder, and a reference scanner (greedy: at every
//! start byte, take the complete valid frame there or move one byte on).

use mavlink::Message;
use mavlink::dialects::common::MavMessage;

pub const STX_V1: u8 = 0xFE;
pub const STX_V2: u8 = 0xFD;
pub const FTP_ID: u32 = 110;
const SIGNATURE_LEN: usize = 13;

/// CRC-16/MCRF4XX ("X.25" in MAVLink) of `bytes`, then of `extra` if given.
pub fn x25(bytes: &[u8], extra: Option<u8>) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes.iter().chain(extra.as_ref()) {
        let mut tmp = b ^ (crc & 0xFF) as u8;
        tmp ^= tmp << 4;
        crc = (crc >> 8) ^ ((tmp as u16) << 8) ^ ((tmp as u16) << 3) ^ ((tmp as u16) >> 4);
    }
    crc
}

/// CRC_EXTRA of a message id of the common dialect (the parser accepts
/// exactly these ids); None for unknown ids.
pub fn crc_extra(message_id: u32) -> Option<u8> {
    let extra = MavMessage::extra_crc(message_id);
    if extra == 0 && MavMessage::default_message_from_id(message_id).is_none() {
        return None;
    }
    Some(extra)
}

/// A frame to build.
#[derive(Debug, Clone)]
pub struct FrameSpec {
    pub v2: bool,
    pub signed: bool,
    pub seq: u8,
    pub sys: u8,
    pub comp: u8,
    pub message_id: u32,
    pub payload: Vec<u8>,
}

/// Serialize a frame with a correct CRC (extra 0 for unknown ids, which the
/// parser must then reject). Payloads over 255 bytes are cut.
pub fn encode_frame(spec: &FrameSpec) -> Vec<u8> {
    let payload = &spec.payload[..spec.payload.len().min(255)];
    let mut out = Vec::with_capacity(payload.len() + 12 + SIGNATURE_LEN);
    if spec.v2 {
        out.extend_from_slice(&[
            STX_V2,
            payload.len() as u8,
            spec.signed as u8,
            0,
            spec.seq,
            spec.sys,
            spec.comp,
            spec.message_id as u8,
            (spec.message_id >> 8) as u8,
            (spec.message_id >> 16) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            STX_V1,
            payload.len() as u8,
            spec.seq,
            spec.sys,
            spec.comp,
            spec.message_id as u8,
        ]);
    }
    out.extend_from_slice(payload);
    let crc = x25(&out[1..], Some(crc_extra(spec.message_id).unwrap_or(0)));
    out.extend_from_slice(&crc.to_le_bytes());
    if spec.v2 && spec.signed {
        out.extend((0..SIGNATURE_LEN as u8).map(|i| i.wrapping_mul(37)));
    }
    out
}

/// A MAVLink 2 FILE_TRANSFER_PROTOCOL frame from (sys, comp) to
/// (target_sys, target_comp) carrying `ftp` (the FTP payload, at most 251
/// bytes used; trailing zeros trimmed as MAVLink 2 senders do).
pub fn ftp_frame(sys: u8, comp: u8, target_sys: u8, target_comp: u8, ftp: &[u8]) -> Vec<u8> {
    let mut payload = vec![0, target_sys, target_comp];
    payload.extend_from_slice(&ftp[..ftp.len().min(251)]);
    while payload.len() > 1 && payload.last() == Some(&0) {
        payload.pop();
    }
    encode_frame(&FrameSpec {
        v2: true,
        signed: false,
        seq: 0,
        sys,
        comp,
        message_id: FTP_ID,
        payload,
    })
}

/// A complete, valid frame found in a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefFrame {
    pub start: usize,
    pub len: usize,
    pub sys: u8,
    pub comp: u8,
    pub message_id: u32,
    pub payload: Vec<u8>,
}

impl RefFrame {
    /// (target_system, target_component, FTP payload) of a FILE_TRANSFER_PROTOCOL frame.
    pub fn ftp_parts(&self) -> (u8, u8, &[u8]) {
        let ts = self.payload.get(1).copied().unwrap_or(0);
        let tc = self.payload.get(2).copied().unwrap_or(0);
        (ts, tc, self.payload.get(3..).unwrap_or(&[]))
    }
}

/// The complete valid frame starting at `at`, if there is one.
pub fn valid_frame_at(data: &[u8], at: usize) -> Option<RefFrame> {
    let d = &data[at..];
    let stx = *d.first()?;
    let len = *d.get(1)? as usize;
    let (header, total, message_id, sys, comp) = match stx {
        STX_V1 => (6, 6 + len + 2, *d.get(5)? as u32, *d.get(3)?, *d.get(4)?),
        STX_V2 => {
            let incompat = *d.get(2)?;
            if incompat & !1 != 0 {
                return None;
            }
            let sig = if incompat & 1 != 0 { SIGNATURE_LEN } else { 0 };
            let id = *d.get(7)? as u32 | (*d.get(8)? as u32) << 8 | (*d.get(9)? as u32) << 16;
            (10, 10 + len + 2 + sig, id, *d.get(5)?, *d.get(6)?)
        }
        _ => return None,
    };
    if d.len() < total {
        return None;
    }
    let extra = crc_extra(message_id)?;
    let crc_at = header + len;
    if x25(&d[1..crc_at], Some(extra)) != u16::from_le_bytes([d[crc_at], d[crc_at + 1]]) {
        return None;
    }
    Some(RefFrame {
        start: at,
        len: total,
        sys,
        comp,
        message_id,
        payload: d[header..crc_at].to_vec(),
    })
}

/// Greedy scan: the frames a correct parser finds in `data` fed at once.
pub fn reference_scan(data: &[u8]) -> Vec<RefFrame> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        match valid_frame_at(data, at) {
            Some(frame) => {
                at += frame.len;
                out.push(frame);
            }
            None => at += 1,
        }
    }
    out
}

/// Every complete valid frame at any offset (overlapping ones included).
pub fn all_valid_frames(data: &[u8]) -> Vec<RefFrame> {
    (0..data.len())
        .filter_map(|at| valid_frame_at(data, at))
        .collect()
}

/// Whether two valid frames share bytes (then how bytes are chunked may
/// legitimately decide which of them a streaming parser takes). `frames`
/// must be sorted by start, as [`all_valid_frames`] returns them.
pub fn any_overlap(frames: &[RefFrame]) -> bool {
    let mut end = 0;
    for f in frames {
        if f.start < end {
            return true;
        }
        end = end.max(f.start + f.len);
    }
    false
}
