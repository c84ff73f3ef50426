//! The MAVLink FTP packet and everything about it, with no I/O and no threads:
//! header codec, opcodes, NAK codes, the directory-listing format, the MAVLink
//! CRC32 variant and the path rules (see docs/PROTOCOL_NOTES.md §1–§9).

mod crc;
mod listing;
mod packet;
mod path;

pub use crc::{MavCrc32, mavlink_crc32};
pub use listing::{ListingEntry, encode_listing_entry, parse_listing};
pub use packet::{
    FtpPacket, InvalidDataSize, MAX_DATA, NakCode, Opcode, PAYLOAD_LEN, nak_to_error,
};
pub use path::{MAX_PATH_LEN, validate_remote_path};

/// MAVLink message id of FILE_TRANSFER_PROTOCOL.
pub const FILE_TRANSFER_PROTOCOL_ID: u32 = 110;
/// CRC_EXTRA of FILE_TRANSFER_PROTOCOL.
pub const FILE_TRANSFER_PROTOCOL_CRC_EXTRA: u8 = 84;
