//! `Px4` (v1.14 SITL):
//! - one session per instance, id always 0: Read/Burst/Terminate with
//!   another id or nothing open → InvalidSession; a second Open →
//!   NoSessionsAvailable; any ResetSessions closes it, and so does 10 s
//!   without an incoming request (outgoing burst packets do not count;
//!   [`FakeServer::set_px4_idle_timeout`](super::FakeServer::set_px4_idle_timeout));
//! - burst chunk always 239 whatever was asked; the first burst packet
//!   leaves ~10 ms after the request; rounds end with bc=1 once ≥ 35,000 B
//!   went out; the last data packet has bc=0 and is followed by NAK EOF
//!   (offset = size, bc "uninitialized": alternates); a burst at or past the
//!   end → NAK EOF with offset = size;
//! - reply cache of the last reply if its size ≤ 4, replayed for any request
//!   with seq+1 == cached seq (burst packets go through it too);
//! - empty directory at offset 0 → ACK size 0; ListDirectoryWithTime (16)
//!   and unknown opcodes → NAK UnknownCommand; ACK sizes Create 4 (old
//!   size), Write 4 (bytes written); TruncateFile works; rmdir of a
//!   non-empty directory → FailErrno 39 (ENOTEMPTY);
//! - requests are handled in arrival order; bursts stream in slices of 8
//!   packets between requests, or on a serial link of known rate
//!   ([`FakeServer::set_px4_link_rate`](super::FakeServer::set_px4_link_rate))
//!   one packet whenever the TX buffer has room, i.e. at the link's rate.

use std::time::{Duration, Instant};

use mavftp::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode};

use super::{Burst, Knobs, Rules, Session, State, close_all};

/// PX4 stops a burst (bc=1) once this many bytes went out in it.
pub const PX4_BURST_BYTES: usize = 35_000;
/// PX4 closes its session after this long without an incoming request.
pub const PX4_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// PX4 streams a burst from its send loop, ~10 ms after the request.
pub const PX4_BURST_START: Duration = Duration::from_millis(10);
/// errno PX4 answers an rmdir of a non-empty directory with (ENOTEMPTY).
pub const PX4_RMDIR_NOT_EMPTY_ERRNO: u8 = 39;

pub(super) struct Px4;

impl Rules for Px4 {
    fn burst_pace(&self, knobs: &Knobs) -> (usize, Duration) {
        match knobs.px4_link_rate {
            0 => (8, Duration::ZERO),
            // One full frame (266 B on the wire) whenever the TX buffer
            // has drained that much.
            rate => (1, Duration::from_secs_f64(266.0 / f64::from(rate))),
        }
    }

    fn tick(&self, st: &mut State, knobs: &Knobs) {
        let expired = st
            .px4_last_request
            .is_some_and(|t| t.elapsed() >= knobs.px4_idle);
        if expired && !st.sessions.is_empty() {
            close_all(st, true);
        }
    }

    fn on_request(&self, st: &mut State) {
        st.px4_last_request = Some(Instant::now());
    }

    fn on_reply(&self, st: &mut State, ids: (u8, u8), p: &FtpPacket) {
        st.cache = (p.data.len() <= 4).then(|| (ids, p.clone()));
    }

    fn replays(&self, st: &State, _: (u8, u8), req: &FtpPacket) -> bool {
        st.cache
            .as_ref()
            .is_some_and(|(_, c)| c.seq == req.seq.wrapping_add(1))
    }

    fn session_for(&self, st: &State, req: &FtpPacket) -> Result<Session, NakCode> {
        if req.session != 0 {
            return Err(NakCode::InvalidSession);
        }
        st.sessions.get(&0).cloned().ok_or(NakCode::InvalidSession)
    }

    fn open_session(&self, st: &mut State, _: &FtpPacket, s: Session) -> Result<u8, NakCode> {
        if !st.sessions.is_empty() {
            return Err(NakCode::NoSessionsAvailable);
        }
        st.sessions.insert(0, s);
        Ok(0)
    }

    fn own_answer(&self, st: &mut State, req: &FtpPacket, path: &str) -> Option<Option<FtpPacket>> {
        match req.opcode {
            Opcode::TerminateSession => Some(if req.session != 0 || st.sessions.is_empty() {
                Some(FtpPacket::nak_for(req, NakCode::InvalidSession, 0))
            } else {
                close_all(st, false);
                Some(FtpPacket::ack_for(req, Vec::new()))
            }),
            Opcode::ListDirectoryWithTime | Opcode::Unknown(_) => {
                Some(Some(FtpPacket::nak_for(req, NakCode::UnknownCommand, 0)))
            }
            Opcode::TruncateFile => Some(Some(match st.files.get_mut(path) {
                Some(f) => {
                    f.data.resize(req.offset as usize, 0);
                    FtpPacket::ack_for(req, Vec::new())
                }
                None => FtpPacket::nak_for(req, NakCode::FileNotFound, 0),
            })),
            _ => None,
        }
    }

    fn create_ack(&self, _: bool, old_size: u32) -> Vec<u8> {
        old_size.to_le_bytes().to_vec()
    }

    fn write_ack(&self, req: &FtpPacket) -> FtpPacket {
        FtpPacket::ack_for(req, (req.data.len() as u32).to_le_bytes().to_vec())
    }

    fn rmdir_not_empty(&self, req: &FtpPacket) -> FtpPacket {
        FtpPacket::nak_for(req, NakCode::FailErrno, PX4_RMDIR_NOT_EMPTY_ERRNO)
    }

    fn empty_dir_acks(&self) -> bool {
        true
    }

    fn burst_chunk(&self, _: &mut State, _: &FtpPacket) -> Option<usize> {
        Some(MAX_DATA)
    }

    fn burst_past_end_offset(&self, len: u64) -> u32 {
        len as u32
    }

    fn burst_start(&self) -> Duration {
        PX4_BURST_START
    }

    fn burst_eof(&self, st: &mut State, _: &Burst, len: u64, nak: &mut FtpPacket) {
        nak.offset = len as u32;
        st.eof_garbage = !st.eof_garbage;
        nak.burst_complete = st.eof_garbage;
    }

    fn burst_bc(&self, b: &Burst, _: bool, last: bool, knobs: &Knobs) -> bool {
        !last && b.bytes >= knobs.px4_burst_bytes
    }
}
