//! The 251-byte FTP packet carried in FILE_TRANSFER_PROTOCOL.payload (docs/PROTOCOL_NOTES.md §1–§3).

use crate::result::{FtpError, FtpResult};

/// Size of FILE_TRANSFER_PROTOCOL.payload.
pub const PAYLOAD_LEN: usize = 251;
/// Header bytes before `data`.
const HEADER_LEN: usize = 12;
/// Maximum number of data bytes in one packet.
pub const MAX_DATA: usize = PAYLOAD_LEN - HEADER_LEN;

/// FTP opcodes (docs/PROTOCOL_NOTES.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    None,
    TerminateSession,
    ResetSessions,
    ListDirectory,
    OpenFileRO,
    ReadFile,
    CreateFile,
    WriteFile,
    RemoveFile,
    CreateDirectory,
    RemoveDirectory,
    OpenFileWO,
    TruncateFile,
    Rename,
    CalcFileCRC32,
    BurstReadFile,
    ListDirectoryWithTime,
    Ack,
    Nak,
    /// Any other value, kept so that a server can NAK it as UnknownCommand.
    Unknown(u8),
}

impl Opcode {
    /// Wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Opcode::None => 0,
            Opcode::TerminateSession => 1,
            Opcode::ResetSessions => 2,
            Opcode::ListDirectory => 3,
            Opcode::OpenFileRO => 4,
            Opcode::ReadFile => 5,
            Opcode::CreateFile => 6,
            Opcode::WriteFile => 7,
            Opcode::RemoveFile => 8,
            Opcode::CreateDirectory => 9,
            Opcode::RemoveDirectory => 10,
            Opcode::OpenFileWO => 11,
            Opcode::TruncateFile => 12,
            Opcode::Rename => 13,
            Opcode::CalcFileCRC32 => 14,
            Opcode::BurstReadFile => 15,
            Opcode::ListDirectoryWithTime => 16,
            Opcode::Ack => 128,
            Opcode::Nak => 129,
            Opcode::Unknown(v) => v,
        }
    }

    /// Opcode for a wire value.
    pub fn from_u8(value: u8) -> Opcode {
        match value {
            0 => Opcode::None,
            1 => Opcode::TerminateSession,
            2 => Opcode::ResetSessions,
            3 => Opcode::ListDirectory,
            4 => Opcode::OpenFileRO,
            5 => Opcode::ReadFile,
            6 => Opcode::CreateFile,
            7 => Opcode::WriteFile,
            8 => Opcode::RemoveFile,
            9 => Opcode::CreateDirectory,
            10 => Opcode::RemoveDirectory,
            11 => Opcode::OpenFileWO,
            12 => Opcode::TruncateFile,
            13 => Opcode::Rename,
            14 => Opcode::CalcFileCRC32,
            15 => Opcode::BurstReadFile,
            16 => Opcode::ListDirectoryWithTime,
            128 => Opcode::Ack,
            129 => Opcode::Nak,
            v => Opcode::Unknown(v),
        }
    }

    /// True for ACK and NAK, the two reply opcodes.
    pub fn is_reply(self) -> bool {
        matches!(self, Opcode::Ack | Opcode::Nak)
    }
}

/// NAK error codes (docs/PROTOCOL_NOTES.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NakCode {
    None,
    Fail,
    FailErrno,
    InvalidDataSize,
    InvalidSession,
    NoSessionsAvailable,
    Eof,
    UnknownCommand,
    FileExists,
    FileProtected,
    FileNotFound,
    /// Any other value (MAVSDK's server may send 201 for a CRC read failure).
    Other(u8),
}

impl NakCode {
    /// Wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            NakCode::None => 0,
            NakCode::Fail => 1,
            NakCode::FailErrno => 2,
            NakCode::InvalidDataSize => 3,
            NakCode::InvalidSession => 4,
            NakCode::NoSessionsAvailable => 5,
            NakCode::Eof => 6,
            NakCode::UnknownCommand => 7,
            NakCode::FileExists => 8,
            NakCode::FileProtected => 9,
            NakCode::FileNotFound => 10,
            NakCode::Other(v) => v,
        }
    }

    /// Code for a wire value.
    pub fn from_u8(value: u8) -> NakCode {
        match value {
            0 => NakCode::None,
            1 => NakCode::Fail,
            2 => NakCode::FailErrno,
            3 => NakCode::InvalidDataSize,
            4 => NakCode::InvalidSession,
            5 => NakCode::NoSessionsAvailable,
            6 => NakCode::Eof,
            7 => NakCode::UnknownCommand,
            8 => NakCode::FileExists,
            9 => NakCode::FileProtected,
            10 => NakCode::FileNotFound,
            v => NakCode::Other(v),
        }
    }
}

/// A payload whose `size` field claims more than [`MAX_DATA`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidDataSize {
    /// Every header field as sent; `data` is empty.
    pub header: FtpPacket,
    /// The `size` field (240–255).
    pub size: u8,
}

/// One FTP packet (the 251-byte payload of FILE_TRANSFER_PROTOCOL), decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct FtpPacket {
    pub seq: u16,
    pub session: u8,
    pub opcode: Opcode,
    /// In a reply, the opcode it answers; 0 in requests.
    pub req_opcode: Opcode,
    /// 1 on the last packet of a burst.
    pub burst_complete: bool,
    /// File offset, directory entry index or truncate length.
    pub offset: u32,
    /// The valid data bytes (`size` on the wire is `data.len()`, at most 239).
    pub data: Vec<u8>,
}

impl std::fmt::Debug for FtpPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpPacket")
            .field("seq", &self.seq)
            .field("session", &self.session)
            .field("opcode", &self.opcode)
            .field("req_opcode", &self.req_opcode)
            .field("burst_complete", &self.burst_complete)
            .field("offset", &self.offset)
            .field("size", &self.data.len())
            .finish()
    }
}

impl FtpPacket {
    /// A request with the given opcode; every other field zero.
    pub fn request(opcode: Opcode, seq: u16) -> FtpPacket {
        FtpPacket {
            seq,
            session: 0,
            opcode,
            req_opcode: Opcode::None,
            burst_complete: false,
            offset: 0,
            data: Vec::new(),
        }
    }

    /// An ACK answering `request` (seq + 1, same session and req_opcode).
    pub fn ack_for(request: &FtpPacket, data: Vec<u8>) -> FtpPacket {
        FtpPacket {
            seq: request.seq.wrapping_add(1),
            session: request.session,
            opcode: Opcode::Ack,
            req_opcode: request.opcode,
            burst_complete: false,
            offset: request.offset,
            data,
        }
    }

    /// A NAK answering `request`; `errno` is sent only with `FailErrno`.
    pub fn nak_for(request: &FtpPacket, code: NakCode, errno: u8) -> FtpPacket {
        let data = if code == NakCode::FailErrno {
            vec![code.to_u8(), errno]
        } else {
            vec![code.to_u8()]
        };
        FtpPacket {
            data,
            opcode: Opcode::Nak,
            ..FtpPacket::ack_for(request, Vec::new())
        }
    }

    /// The NAK code of a NAK packet (None if this is not a NAK or it is empty).
    pub fn nak_code(&self) -> Option<NakCode> {
        if self.opcode != Opcode::Nak {
            return None;
        }
        self.data.first().map(|&b| NakCode::from_u8(b))
    }

    /// The errno carried by a FailErrno NAK.
    pub fn nak_errno(&self) -> Option<u8> {
        match self.nak_code() {
            Some(NakCode::FailErrno) => self.data.get(1).copied(),
            _ => None,
        }
    }

    /// The first four data bytes as a little-endian u32 (file size, CRC).
    pub fn data_u32(&self) -> Option<u32> {
        let bytes: [u8; 4] = self.data.get(..4)?.try_into().ok()?;
        Some(u32::from_le_bytes(bytes))
    }

    /// Encode into the 251-byte payload. Data beyond 239 bytes is cut off.
    pub fn encode(&self) -> [u8; PAYLOAD_LEN] {
        let mut out = [0u8; PAYLOAD_LEN];
        self.encode_into(&mut out);
        out
    }

    /// Write the header and the data into the start of `out` (at least
    /// 251 bytes), leaving the bytes after the data as they are; returns
    /// how many bytes were written (12 + data length). The payload is those
    /// bytes followed by zeros.
    pub fn encode_into(&self, out: &mut [u8]) -> usize {
        let size = self.data.len().min(MAX_DATA);
        let seq = self.seq.to_le_bytes();
        let offset = self.offset.to_le_bytes();
        out[..HEADER_LEN].copy_from_slice(&[
            seq[0],
            seq[1],
            self.session,
            self.opcode.to_u8(),
            size as u8,
            self.req_opcode.to_u8(),
            self.burst_complete as u8,
            0,
            offset[0],
            offset[1],
            offset[2],
            offset[3],
        ]);
        out[HEADER_LEN..HEADER_LEN + size].copy_from_slice(&self.data[..size]);
        HEADER_LEN + size
    }

    /// Decode a payload. A payload shorter than 251 bytes (MAVLink 2 trims
    /// trailing zeros) is zero-filled. Returns None when `size` exceeds 239
    /// ([`FtpPacket::parse`] tells that case apart).
    pub fn decode(payload: &[u8]) -> Option<FtpPacket> {
        FtpPacket::parse(payload).ok()
    }

    /// Decode a payload like [`FtpPacket::decode`], reporting a `size` field
    /// of 240–255 (more data than a packet holds) as [`InvalidDataSize`] with
    /// the header decoded, so that a server can answer it with NAK
    /// InvalidDataSize as PX4 and MAVSDK's server do.
    pub fn parse(payload: &[u8]) -> Result<FtpPacket, InvalidDataSize> {
        let mut buf = [0u8; PAYLOAD_LEN];
        let n = payload.len().min(PAYLOAD_LEN);
        buf[..n].copy_from_slice(&payload[..n]);
        let size = buf[4] as usize;
        let header = FtpPacket {
            seq: u16::from_le_bytes([buf[0], buf[1]]),
            session: buf[2],
            opcode: Opcode::from_u8(buf[3]),
            req_opcode: Opcode::from_u8(buf[5]),
            burst_complete: buf[6] != 0,
            offset: u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]),
            data: Vec::new(),
        };
        if size > MAX_DATA {
            return Err(InvalidDataSize {
                header,
                size: size as u8,
            });
        }
        Ok(FtpPacket {
            data: buf[HEADER_LEN..HEADER_LEN + size].to_vec(),
            ..header
        })
    }
}

/// Map a NAK to a result with a detail message (docs/PROTOCOL_NOTES.md §3):
/// MAVSDK's mapping, plus FailErrno as the file-system answer it is.
pub fn nak_to_error(nak: &FtpPacket, what: &str) -> FtpError {
    let code = nak.nak_code().unwrap_or(NakCode::None);
    let (result, name) = match code {
        NakCode::None => (
            FtpResult::ProtocolError,
            "NAK without error code".to_string(),
        ),
        NakCode::Fail => (FtpResult::ProtocolError, "Fail".to_string()),
        // A file-system answer, not a protocol violation: the common errnos
        // map like MAVSDK's ENOENT, the rest is a remote file I/O error.
        NakCode::FailErrno => match nak.nak_errno() {
            Some(errno) => {
                let result = match errno as i32 {
                    libc::ENOENT => FtpResult::FileDoesNotExist,
                    libc::EEXIST => FtpResult::FileExists,
                    libc::EACCES | libc::EPERM | libc::EROFS => FtpResult::FileProtected,
                    _ => FtpResult::FileIoError,
                };
                (
                    result,
                    format!("FailErrno (errno {errno}: {})", errno_text(errno)),
                )
            }
            None => (
                FtpResult::FileIoError,
                "FailErrno without an errno".to_string(),
            ),
        },
        NakCode::InvalidDataSize => (FtpResult::ProtocolError, "InvalidDataSize".into()),
        NakCode::InvalidSession => (FtpResult::ProtocolError, "InvalidSession".into()),
        NakCode::NoSessionsAvailable => (FtpResult::Busy, "NoSessionsAvailable".into()),
        NakCode::Eof => (FtpResult::ProtocolError, "unexpected EOF".into()),
        NakCode::UnknownCommand => (FtpResult::Unsupported, "UnknownCommand".into()),
        NakCode::FileExists => (FtpResult::FileExists, "FileExists".into()),
        NakCode::FileProtected => (FtpResult::FileProtected, "FileProtected".into()),
        NakCode::FileNotFound => (FtpResult::FileDoesNotExist, "FileNotFound".into()),
        NakCode::Other(201) => (FtpResult::FileIoError, "server file I/O error (201)".into()),
        NakCode::Other(v) => (FtpResult::ProtocolError, format!("unknown NAK code {v}")),
    };
    FtpError::new(result, format!("{what}: server answered NAK {name}"))
}

/// The usual text of an errno (Linux numbering, which NuttX and newlib
/// share for the common ones), without the "(os error N)" suffix.
fn errno_text(errno: u8) -> String {
    let text = std::io::Error::from_raw_os_error(i32::from(errno)).to_string();
    match text.rfind(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_keeps_every_field() {
        let packet = FtpPacket {
            seq: 0xBEEF,
            session: 7,
            opcode: Opcode::Ack,
            req_opcode: Opcode::BurstReadFile,
            burst_complete: true,
            offset: 0x0102_0304,
            data: (0..239).map(|i| i as u8).collect(),
        };
        let wire = packet.encode();
        assert_eq!(&wire[0..2], &[0xEF, 0xBE]);
        assert_eq!(wire[4], 239);
        assert_eq!(&wire[8..12], &[4, 3, 2, 1]);
        assert_eq!(FtpPacket::decode(&wire), Some(packet));
    }

    #[test]
    fn decode_zero_fills_a_trimmed_payload() {
        let mut p = FtpPacket::request(Opcode::ListDirectory, 1);
        p.data = b"/".to_vec();
        let wire = p.encode();
        let decoded = FtpPacket::decode(&wire[..13]).unwrap();
        assert_eq!(decoded, p);
    }

    #[test]
    fn decode_rejects_size_beyond_239_and_parse_reports_it_with_the_header() {
        for size in 240..=255u8 {
            let mut wire = FtpPacket::request(Opcode::ListDirectory, 0x1234).encode();
            wire[2] = 3;
            wire[4] = size;
            wire[8] = 7;
            assert_eq!(FtpPacket::decode(&wire), None);
            let bad = FtpPacket::parse(&wire).unwrap_err();
            assert_eq!(bad.size, size);
            assert_eq!(bad.header.seq, 0x1234);
            assert_eq!(bad.header.session, 3);
            assert_eq!(bad.header.opcode, Opcode::ListDirectory);
            assert_eq!(bad.header.offset, 7);
            assert!(bad.header.data.is_empty());
        }
        let mut wire = [0u8; PAYLOAD_LEN];
        wire[4] = 239;
        assert_eq!(FtpPacket::parse(&wire).unwrap().data.len(), 239);
    }

    #[test]
    fn nak_carries_errno_only_for_fail_errno() {
        let req = FtpPacket::request(Opcode::OpenFileRO, 5);
        let nak = FtpPacket::nak_for(&req, NakCode::FailErrno, 13);
        assert_eq!(nak.seq, 6);
        assert_eq!(nak.data, vec![2, 13]);
        assert_eq!(nak_to_error(&nak, "open").result, FtpResult::FileProtected);
        let nak = FtpPacket::nak_for(&req, NakCode::FileNotFound, 13);
        assert_eq!(nak.data, vec![10]);
        assert_eq!(
            nak_to_error(&nak, "open").result,
            FtpResult::FileDoesNotExist
        );
    }

    #[test]
    fn fail_errno_is_a_file_system_answer() {
        let req = FtpPacket::request(Opcode::RemoveDirectory, 5);
        let result = |errno| {
            nak_to_error(
                &FtpPacket::nak_for(&req, NakCode::FailErrno, errno),
                "rmdir",
            )
        };
        assert_eq!(result(2).result, FtpResult::FileDoesNotExist);
        assert_eq!(result(17).result, FtpResult::FileExists);
        for protected in [1, 13, 30] {
            assert_eq!(result(protected).result, FtpResult::FileProtected);
        }
        // ArduPilot SITL: rmdir of a non-empty directory; PX4: ENOTEMPTY.
        for other in [21, 39, 27, 5] {
            let e = result(other);
            assert_eq!(e.result, FtpResult::FileIoError, "errno {other}");
            assert!(e.message.contains(&format!("errno {other}")), "{e}");
        }
        assert!(result(21).message.contains("directory"), "{}", result(21));
        let mut bare = FtpPacket::nak_for(&req, NakCode::FailErrno, 0);
        bare.data.truncate(1);
        assert_eq!(nak_to_error(&bare, "rmdir").result, FtpResult::FileIoError);
    }

    #[test]
    fn unknown_opcodes_survive_a_round_trip() {
        assert_eq!(Opcode::from_u8(77), Opcode::Unknown(77));
        assert_eq!(Opcode::Unknown(77).to_u8(), 77);
        for v in 0..=16u8 {
            assert_eq!(Opcode::from_u8(v).to_u8(), v);
        }
    }
}
