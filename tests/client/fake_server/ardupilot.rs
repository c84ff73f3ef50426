//! `ArduPilot` (GCS_FTP.cpp of 2025-07, Copter SITL):
//! - ONE session for all peers and links, whose id is whatever the client
//!   sends. While a file is open, a request with another session id gets NAK
//!   InvalidSession until 3 s after the server's last reply, and every reply
//!   (burst packets included) restarts that timer; after 3 s of silence such
//!   a request first force-closes the old file. TerminateSession /
//!   ResetSessions naming another id are only acknowledged, and zero the
//!   timer (the next open of another id then force-closes the old file);
//!   with the open id they close it. Open while the file is open: NAK Fail
//!   (unless idle > 3 s). Read/Write/Burst with no file open → NAK
//!   FileNotFound;
//! - chunk = requested size (0 → 239); ≤ 500 packets per burst (bc=1 on the
//!   500th, even mid-file); a short packet has bc=1 and is followed by NAK
//!   EOF; a file ending on a chunk boundary gets no bc=1 packet, and the NAK
//!   EOF carries the offset of the last data packet; a burst starting at or
//!   past the end → NAK EOF with offset 0;
//! - a queue of 5 requests in front of one worker (with a service time per
//!   request): requests arriving while 5 wait are dropped; the worker blocks
//!   while it bursts;
//! - one global cached reply (any size), replayed when (sysid, compid),
//!   session match and seq+1 == cached seq;
//! - virtual files (`@PARAM/param.pck`) report a fake size in OpenFileRO and
//!   require the same read size for every read on a handle (else NAK
//!   FailErrno EINVAL, as `AP_Filesystem_Param::read` does);
//! - unknown opcodes, ListDirectoryWithTime (16) and TruncateFile → NAK Fail
//!   (pre-2026); rmdir of a non-empty directory → NAK FailErrno 21.

use std::time::{Duration, Instant};

use mavftp::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode};

use super::{Burst, Knobs, Rules, Session, State, close_all};

/// ArduPilot's packet cap per burst (2025).
pub const AP_BURST_PACKETS: u32 = 500;
/// ArduPilot's request queue length.
pub const AP_QUEUE: usize = 5;
/// ArduPilot refuses other session ids this long after its last reply.
pub const AP_SESSION_TIMEOUT: Duration = Duration::from_secs(3);
/// errno ArduPilot's param backend sets for a read of another size.
const EINVAL: u8 = 22;
/// errno ArduPilot SITL answers an rmdir of a non-empty directory with.
pub const AP_RMDIR_NOT_EMPTY_ERRNO: u8 = 21;
/// Fake OpenFileRO size of ArduPilot's `@PARAM/param.pck`.
pub const AP_PARAM_FAKE_SIZE: u32 = 65_535;

/// ArduPilot's single session: which id holds the open file and when the
/// server last replied to anyone.
#[derive(Debug, Default)]
pub(super) struct ApSession {
    pub(super) current: Option<u8>,
    last_reply: Option<Instant>,
    /// The reply being sent zeroes the timer (Terminate/Reset of another id).
    zero_timer: bool,
}

pub(super) struct ArduPilot;

impl Rules for ArduPilot {
    fn queued_worker(&self) -> bool {
        true
    }

    fn burst_pace(&self, _: &Knobs) -> (usize, Duration) {
        // The worker streams its burst itself (`ap_worker`).
        (usize::MAX, Duration::ZERO)
    }

    fn on_reply(&self, st: &mut State, ids: (u8, u8), p: &FtpPacket) {
        let no_sessions = p.nak_code() == Some(NakCode::NoSessionsAvailable);
        st.cache = (!no_sessions).then(|| (ids, p.clone()));
        st.ap.last_reply = if std::mem::take(&mut st.ap.zero_timer) {
            None
        } else {
            Some(Instant::now())
        };
    }

    fn replays(&self, st: &State, from: (u8, u8), req: &FtpPacket) -> bool {
        st.cache.as_ref().is_some_and(|(ids, c)| {
            *ids == from && c.session == req.session && c.seq == req.seq.wrapping_add(1)
        })
    }

    /// The single session's rules, applied before any opcode.
    fn gate(&self, st: &mut State, req: &FtpPacket) -> Option<FtpPacket> {
        let open = !st.sessions.is_empty();
        let other = st.ap.current != Some(req.session);
        if other && matches!(req.opcode, Opcode::TerminateSession | Opcode::ResetSessions) {
            // Another session's close: acknowledged only; zeroes the timer.
            st.ap.zero_timer = true;
            return Some(FtpPacket::ack_for(req, Vec::new()));
        }
        if !(open && other) {
            return None;
        }
        let recent = st
            .ap
            .last_reply
            .is_some_and(|t| t.elapsed() < AP_SESSION_TIMEOUT);
        if recent {
            return Some(FtpPacket::nak_for(req, NakCode::InvalidSession, 0));
        }
        // The old session was idle: force-close it.
        close_all(st, true);
        None
    }

    fn session_for(&self, st: &State, req: &FtpPacket) -> Result<Session, NakCode> {
        // The gate let it through: with no file open it is FileNotFound.
        st.sessions
            .get(&req.session)
            .cloned()
            .ok_or(NakCode::FileNotFound)
    }

    fn open_session(&self, st: &mut State, req: &FtpPacket, s: Session) -> Result<u8, NakCode> {
        let idle = st
            .ap
            .last_reply
            .is_none_or(|t| t.elapsed() > AP_SESSION_TIMEOUT);
        if !st.sessions.is_empty() && req.opcode == Opcode::OpenFileRO && idle {
            // No activity for 3 s: the client lost the open reply.
            close_all(st, true);
        }
        if !st.sessions.is_empty() {
            return Err(NakCode::Fail);
        }
        st.sessions.insert(req.session, s);
        st.ap.current = Some(req.session);
        Ok(req.session)
    }

    fn own_answer(&self, st: &mut State, req: &FtpPacket, _: &str) -> Option<Option<FtpPacket>> {
        match req.opcode {
            Opcode::TerminateSession => {
                // The gate answered other ids: this is the open one.
                close_all(st, false);
                // Terminate's ACK zeroes the timer (2025 push_reply).
                st.ap.zero_timer = true;
                Some(Some(FtpPacket::ack_for(req, Vec::new())))
            }
            Opcode::ListDirectoryWithTime | Opcode::TruncateFile | Opcode::Unknown(_) => {
                Some(Some(FtpPacket::nak_for(req, NakCode::Fail, 0)))
            }
            _ => None,
        }
    }

    fn rmdir_not_empty(&self, req: &FtpPacket) -> FtpPacket {
        FtpPacket::nak_for(req, NakCode::FailErrno, AP_RMDIR_NOT_EMPTY_ERRNO)
    }

    /// Virtual files want the same read size for every read on a handle.
    fn check_read_size(
        &self,
        st: &mut State,
        req: &FtpPacket,
        s: &Session,
        size: usize,
    ) -> Result<(), FtpPacket> {
        let virtual_file = st.files.get(&s.path).is_some_and(|f| f.fake_size.is_some());
        if !virtual_file {
            return Ok(());
        }
        match s.read_size {
            Some(rs) if rs != size => Err(FtpPacket::nak_for(req, NakCode::FailErrno, EINVAL)),
            Some(_) => Ok(()),
            None => {
                if let Some(sess) = st.sessions.get_mut(&req.session) {
                    sess.read_size = Some(size);
                }
                Ok(())
            }
        }
    }

    fn burst_chunk(&self, _: &mut State, req: &FtpPacket) -> Option<usize> {
        Some(if req.data.is_empty() {
            MAX_DATA
        } else {
            req.data.len()
        })
    }

    fn burst_eof(&self, _: &mut State, b: &Burst, _: u64, nak: &mut FtpPacket) {
        nak.offset = b.last_offset;
    }

    fn burst_bc(&self, b: &Burst, short: bool, _: bool, _: &Knobs) -> bool {
        short || b.packets >= AP_BURST_PACKETS
    }

    /// A short bc=1 packet is followed by NAK EOF.
    fn burst_goes_on(&self, bc: bool, short: bool) -> bool {
        !bc || short
    }
}
