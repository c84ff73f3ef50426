//! MAVLink 2 message signing (mavlink.io "Message signing"; the rules we
//! follow are written down in docs/PROTOCOL_NOTES.md §12).
//!
//! A signed frame has incompatibility flag 0x01 and 13 more bytes after the
//! CRC: link id (1 byte), timestamp (6 bytes, little-endian, units of 10 µs
//! since 2015-01-01 00:00:00 UTC) and the first 6 bytes of
//! SHA-256(secret key ‖ every frame byte from the start marker to the
//! timestamp). The CRC covers the incompatibility flags, so signing a frame
//! also recomputes its CRC.
//!
//! One [`SigningState`] per link holds the key, our outgoing timestamp, the
//! last accepted timestamp of each incoming stream (sysid, compid, link id)
//! and the counters. No I/O here.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::frame::{FrameWriter, IFLAG_SIGNED, RawFrame, SIGNATURE_LEN, extra_crc, frame_crc};

/// Length of a MAVLink 2 signing secret key in bytes.
pub const SIGNING_KEY_LEN: usize = 32;
/// The MAVLink signing epoch, 2015-01-01 00:00:00 UTC, in Unix seconds.
const SIGNING_EPOCH_UNIX_S: u64 = 1_420_070_400;
/// How far (10 µs units: one minute) the first timestamp of a new stream may
/// lag our own timestamp, as in the spec and its reference implementations.
const NEW_STREAM_WINDOW: u64 = 6_000_000;
/// Timestamps are 48-bit.
const TIMESTAMP_MAX: u64 = (1 << 48) - 1;
/// Most incoming streams remembered per link. Only correctly signed frames
/// create streams, so only key holders can fill the table; a stream whose
/// last timestamp is more than [`NEW_STREAM_WINDOW`] behind ours can be
/// forgotten safely (a replay of it would be refused as a stale new stream).
pub(crate) const MAX_SIGNING_STREAMS: usize = 256;

/// MAVLink 2 signing counters of a link since it was opened:
/// `mavftp_signing_stats` in C (`mavftp_link_signing_stats`), `SigningStats`
/// in the Rust API (`Link::signing_stats`); one type, exported to C under its
/// C name. Counters only grow; they survive clearing signing and a new key.
/// Incoming frames are counted only while a key is set; then
/// `accepted_signed + accepted_unsigned + dropped` is every frame received
/// and `accepted_unsigned + dropped = unsigned_frames + bad_signature +
/// replay + stale_stream + too_many_streams`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigningStats {
    /// Frames this link signed and sent (heartbeats included).
    pub frames_signed: u64,
    /// Incoming frames with a correct signature (accepted).
    pub accepted_signed: u64,
    /// Incoming frames without a correct signature accepted because signing
    /// is not required (unsigned ones, and signed ones that failed a check,
    /// as in the MAVLink reference implementations).
    pub accepted_unsigned: u64,
    /// Incoming frames without a correct signature dropped because signing
    /// is required: no client, server or heard table saw them.
    pub dropped: u64,
    /// Incoming frames without a signature (MAVLink 1 included).
    pub unsigned_frames: u64,
    /// Incoming signed frames with a wrong signature (another key, altered
    /// bytes).
    pub bad_signature: u64,
    /// Correctly signed frames not newer than the last accepted one of their
    /// stream (system, component, link id): replays.
    pub replay: u64,
    /// Correctly signed first frames of a new stream more than one minute
    /// behind this link's timestamp.
    pub stale_stream: u64,
    /// Correctly signed first frames of a new stream while the link's table
    /// of streams was full of recent ones.
    pub too_many_streams: u64,
}

/// Why an incoming frame has no valid signature.
#[derive(Debug, Clone, Copy)]
enum Failure {
    Unsigned,
    BadSignature,
    Replay,
    StaleStream,
    TooManyStreams,
}

impl Failure {
    fn counter(self, stats: &mut SigningStats) -> &mut u64 {
        match self {
            Failure::Unsigned => &mut stats.unsigned_frames,
            Failure::BadSignature => &mut stats.bad_signature,
            Failure::Replay => &mut stats.replay,
            Failure::StaleStream => &mut stats.stale_stream,
            Failure::TooManyStreams => &mut stats.too_many_streams,
        }
    }
}

/// The key and switches given to a link.
struct SigningKey {
    key: [u8; SIGNING_KEY_LEN],
    link_id: u8,
    require: bool,
}

/// The signing state of one link.
#[derive(Default)]
pub(crate) struct SigningState {
    key: Option<SigningKey>,
    /// The last timestamp we used, raised to the newest correctly signed
    /// incoming one (spec rule); never goes back while the link lives.
    timestamp: u64,
    /// Last accepted timestamp of each (sysid, compid, link id).
    streams: HashMap<(u8, u8, u8), u64>,
    stats: SigningStats,
}

/// Our clock as a signing timestamp (0 when the clock is before 2015).
fn clock_timestamp() -> u64 {
    let since_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let micros = since_unix
        .as_micros()
        .saturating_sub(u128::from(SIGNING_EPOCH_UNIX_S) * 1_000_000);
    u64::try_from(micros / 10)
        .unwrap_or(TIMESTAMP_MAX)
        .min(TIMESTAMP_MAX)
}

/// The 6-byte signature of `signed_part` (the frame from its start marker
/// through link id and timestamp).
fn signature(key: &[u8; SIGNING_KEY_LEN], signed_part: &[u8]) -> [u8; 6] {
    let mut hasher = Sha256::new();
    hasher.update(key);
    hasher.update(signed_part);
    let digest = hasher.finalize();
    let mut out = [0u8; 6];
    out.copy_from_slice(&digest[..6]);
    out
}

/// Constant-time comparison (a timing side channel must not reveal how many
/// leading bytes of a forged signature were right).
fn same_signature(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl SigningState {
    /// Sign outgoing frames with `key` and `link_id`; with `require`, accept
    /// only correctly signed incoming frames. A new key forgets the streams
    /// (they were authenticated by the old key); the timestamp carries on.
    pub fn set(&mut self, key: [u8; SIGNING_KEY_LEN], link_id: u8, require: bool) {
        let same_key = self.key.as_ref().is_some_and(|k| k.key == key);
        if !same_key {
            self.streams.clear();
        }
        self.key = Some(SigningKey {
            key,
            link_id,
            require,
        });
    }

    /// Stop signing and accept every frame again (counters and timestamp stay).
    pub fn clear(&mut self) {
        self.key = None;
        self.streams.clear();
    }

    pub fn stats(&self) -> SigningStats {
        self.stats
    }

    /// Whether outgoing frames are signed.
    pub fn is_signing(&self) -> bool {
        self.key.is_some()
    }

    /// The timestamp for the next frame we send: after every one we sent and
    /// every one we accepted, and not behind our clock.
    fn next_timestamp(&mut self) -> u64 {
        let next = (self.timestamp + 1)
            .max(clock_timestamp())
            .min(TIMESTAMP_MAX);
        self.timestamp = next;
        next
    }

    /// The frame `writer` built last, signed when a key is set.
    pub fn finish<'a>(&mut self, writer: &'a mut FrameWriter) -> &'a [u8] {
        let (unsigned, signed) = writer.last_frame();
        if self.sign_into(unsigned, signed) {
            signed
        } else {
            unsigned
        }
    }

    /// When a key is set: `unsigned` (a complete MAVLink 2 frame without
    /// signature) signed into `out`; returns false (and leaves `out` alone)
    /// without a key or for a frame it cannot sign.
    pub fn sign_into(&mut self, unsigned: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(key) = self.key.as_ref().map(|k| (k.key, k.link_id)) else {
            return false;
        };
        // A MAVLink 2 frame: 10 header bytes, payload, 2 CRC bytes.
        if unsigned.len() < 12 || unsigned[0] != super::frame::STX_V2 {
            return false;
        }
        let len = unsigned[1] as usize;
        if unsigned.len() != 10 + len + 2 {
            return false;
        }
        let message_id = u32::from_le_bytes([unsigned[7], unsigned[8], unsigned[9], 0]);
        let Some(extra) = extra_crc(message_id) else {
            return false;
        };
        let timestamp = self.next_timestamp();
        out.clear();
        out.extend_from_slice(&unsigned[..10 + len]);
        out[2] |= IFLAG_SIGNED;
        let crc = frame_crc(&out[1..], extra);
        out.extend_from_slice(&crc.to_le_bytes());
        out.push(key.1);
        out.extend_from_slice(&timestamp.to_le_bytes()[..6]);
        let sig = signature(&key.0, out);
        out.extend_from_slice(&sig);
        self.stats.frames_signed += 1;
        true
    }

    /// Whether an incoming frame may be routed. Without a key every frame is
    /// (as before signing existed: a signed frame's signature is not looked
    /// at). With a key, a frame is accepted when its signature verifies and
    /// it is newer than its stream; any other frame only when signing is not
    /// required.
    pub fn check(&mut self, frame: &RawFrame<'_>) -> bool {
        let Some(key) = self.key.as_ref() else {
            return true;
        };
        let require = key.require;
        let failure = match self.verify(frame) {
            None => {
                self.stats.accepted_signed += 1;
                return true;
            }
            Some(failure) => failure,
        };
        *failure.counter(&mut self.stats) += 1;
        if require {
            self.stats.dropped += 1;
            false
        } else {
            self.stats.accepted_unsigned += 1;
            true
        }
    }

    /// None when `frame` is correctly signed and newer than its stream (the
    /// stream and our timestamp then move on); otherwise why not.
    fn verify(&mut self, frame: &RawFrame<'_>) -> Option<Failure> {
        let key = self.key.as_ref()?;
        if !frame.signed {
            return Some(Failure::Unsigned);
        }
        let bytes = frame.bytes;
        let Some(split) = bytes.len().checked_sub(6) else {
            return Some(Failure::BadSignature);
        };
        let (signed_part, wire_sig) = bytes.split_at(split);
        // The signature is checked first, so a forged frame cannot touch the
        // stream table or our timestamp (pymavlink 2.4.50 records the stream
        // timestamp before comparing signatures).
        if !same_signature(&signature(&key.key, signed_part), wire_sig) {
            return Some(Failure::BadSignature);
        }
        let block = &bytes[bytes.len() - SIGNATURE_LEN..];
        let link_id = block[0];
        let mut ts = [0u8; 8];
        ts[..6].copy_from_slice(&block[1..7]);
        let timestamp = u64::from_le_bytes(ts);
        let stream = (frame.system_id, frame.component_id, link_id);
        match self.streams.get(&stream) {
            Some(&last) if timestamp <= last => return Some(Failure::Replay),
            Some(_) => {}
            None => {
                let ours = self.timestamp.max(clock_timestamp());
                if timestamp + NEW_STREAM_WINDOW < ours {
                    return Some(Failure::StaleStream);
                }
                if self.streams.len() >= MAX_SIGNING_STREAMS && !self.forget_a_stale_stream(ours) {
                    return Some(Failure::TooManyStreams);
                }
            }
        }
        self.streams.insert(stream, timestamp);
        self.timestamp = self.timestamp.max(timestamp);
        None
    }

    /// Forget the oldest stream if it is too old to be replayed as a new one.
    fn forget_a_stale_stream(&mut self, ours: u64) -> bool {
        let oldest = self
            .streams
            .iter()
            .min_by_key(|(_, last)| **last)
            .map(|(k, last)| (*k, *last));
        match oldest {
            Some((stream, last)) if last + NEW_STREAM_WINDOW < ours => {
                self.streams.remove(&stream);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::{FrameParser, FrameWriter};
    use super::*;

    const KEY: [u8; 32] = [7u8; 32];

    fn parse_one(bytes: &[u8], mut f: impl FnMut(&RawFrame<'_>)) -> usize {
        let mut parser = FrameParser::new();
        let mut n = 0;
        parser.push(bytes, |frame| {
            n += 1;
            f(&frame)
        });
        n
    }

    fn signed_heartbeat(state: &mut SigningState, sys: u8) -> Vec<u8> {
        let mut writer = FrameWriter::new(sys, 1);
        let mut out = Vec::new();
        assert!(state.sign_into(writer.heartbeat(), &mut out));
        out
    }

    #[test]
    fn signed_frame_has_flag_block_and_valid_crc() {
        let mut tx = SigningState::default();
        tx.set(KEY, 3, true);
        let frame = signed_heartbeat(&mut tx, 9);
        assert_eq!(frame[2], IFLAG_SIGNED);
        assert_eq!(frame.len(), 10 + frame[1] as usize + 2 + SIGNATURE_LEN);
        assert_eq!(frame[frame.len() - 13], 3, "link id");
        let mut rx = SigningState::default();
        rx.set(KEY, 0, true);
        assert_eq!(parse_one(&frame, |f| assert!(rx.check(f))), 1);
        assert_eq!(rx.stats().accepted_signed, 1);
        assert_eq!(tx.stats().frames_signed, 1);
    }

    #[test]
    fn timestamps_increase_and_follow_the_clock() {
        let mut tx = SigningState::default();
        tx.set(KEY, 0, false);
        let before = clock_timestamp();
        let a = tx.next_timestamp();
        let b = tx.next_timestamp();
        assert!(a >= before && b > a);
        // Units of 10 µs since 2015: more than 10 years' worth today.
        assert!(a > 10 * 365 * 24 * 3600 * 100_000);
    }

    #[test]
    fn wrong_key_replay_unsigned_and_stale_streams_are_dropped() {
        let mut tx = SigningState::default();
        tx.set(KEY, 1, true);
        let good = signed_heartbeat(&mut tx, 5);
        let mut rx = SigningState::default();
        rx.set([8u8; 32], 0, true);
        parse_one(&good, |f| assert!(!rx.check(f)));
        assert_eq!(rx.stats().bad_signature, 1);

        rx.set(KEY, 0, true);
        parse_one(&good, |f| assert!(rx.check(f)));
        parse_one(&good, |f| assert!(!rx.check(f)));
        assert_eq!(rx.stats().replay, 1);

        let mut plain = FrameWriter::new(5, 1);
        let unsigned = plain.heartbeat().to_vec();
        parse_one(&unsigned, |f| assert!(!rx.check(f)));
        assert_eq!(rx.stats().unsigned_frames, 1);
        // Not required: unsigned frames pass, and so do signed ones that fail
        // a check (as in the MAVLink reference implementations).
        rx.set(KEY, 0, false);
        parse_one(&unsigned, |f| assert!(rx.check(f)));
        parse_one(&good, |f| assert!(rx.check(f)));
        assert_eq!(rx.stats().accepted_unsigned, 2);
        assert_eq!(rx.stats().replay, 2);
        rx.set(KEY, 0, true);

        // A new stream more than a minute behind our timestamp: signed by
        // hand at timestamp 1 (the writer would follow the clock).
        let mut writer = FrameWriter::new(6, 1);
        let unsigned = writer.heartbeat().to_vec();
        let len = unsigned[1] as usize;
        let mut frame = unsigned[..10 + len].to_vec();
        frame[2] |= IFLAG_SIGNED;
        let crc = mavlink::calculate_crc(&frame[1..], 50);
        frame.extend_from_slice(&crc.to_le_bytes());
        frame.push(2);
        frame.extend_from_slice(&1u64.to_le_bytes()[..6]);
        let sig = signature(&KEY, &frame);
        frame.extend_from_slice(&sig);
        parse_one(&frame, |f| assert!(!rx.check(f)));
        let stats = rx.stats();
        assert_eq!(stats.stale_stream, 1);
        assert_eq!(stats.dropped, 4);
        assert_eq!(
            stats.accepted_unsigned + stats.dropped,
            stats.unsigned_frames
                + stats.bad_signature
                + stats.replay
                + stats.stale_stream
                + stats.too_many_streams
        );
    }

    #[test]
    fn altered_byte_fails_the_signature() {
        let mut tx = SigningState::default();
        tx.set(KEY, 1, true);
        let good = signed_heartbeat(&mut tx, 5);
        let mut rx = SigningState::default();
        rx.set(KEY, 0, true);
        // Alter the timestamp (not covered by the CRC, so the frame still parses).
        let mut bad = good.clone();
        let at = bad.len() - 8;
        bad[at] ^= 1;
        assert_eq!(parse_one(&bad, |f| assert!(!rx.check(f))), 1);
        assert_eq!(rx.stats().bad_signature, 1);
        assert_eq!(rx.stats().accepted_signed, 0);
        // The stream was not created by the forged frame: the genuine one passes.
        parse_one(&good, |f| assert!(rx.check(f)));
    }

    #[test]
    fn full_stream_table_forgets_only_stale_streams() {
        let mut rx = SigningState::default();
        rx.set(KEY, 0, true);
        let now = clock_timestamp();
        for i in 0..MAX_SIGNING_STREAMS {
            rx.streams.insert((i as u8, (i >> 8) as u8, 9), now);
        }
        let mut tx = SigningState::default();
        tx.set(KEY, 1, true);
        let frame = signed_heartbeat(&mut tx, 200);
        parse_one(&frame, |f| assert!(!rx.check(f)));
        assert_eq!(rx.stats().too_many_streams, 1);
        rx.streams.insert((0, 0, 9), 1);
        let frame = signed_heartbeat(&mut tx, 200);
        parse_one(&frame, |f| assert!(rx.check(f)));
        assert!(!rx.streams.contains_key(&(0, 0, 9)));
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // SHA-256 of 32 zero bytes followed by "abc", first 6 bytes, computed
        // independently (python3 -c "import hashlib; print(hashlib.sha256(bytes(32)+b'abc').hexdigest()[:12])").
        let sig = signature(&[0u8; 32], b"abc");
        assert_eq!(sig, KNOWN_VECTOR);
    }

    const KNOWN_VECTOR: [u8; 6] = [0x36, 0x5a, 0xa7, 0xd8, 0xf7, 0xf9];
}
