//! `Mavsdk41` (MAVSDK 4.1's FtpServer):
//! - session always 0, a new Open replaces the open file; Read/Burst with
//!   session ≠ 0 or nothing open → NAK Fail;
//! - bursts paced one packet per `burst_gap` (2 ms), bc=1 every 150 packets
//!   and on the last data packet, no EOF NAK; a burst at offset ≥ size → NAK
//!   EOF with offset 0; a burst of size 0 is counted and not answered;
//! - ReadFile at offset ≥ size → NAK EOF (offset 0), running past the end →
//!   NAK Fail;
//! - Create/OpenFileWO under a missing directory → NAK Fail; OpenFileWO of a
//!   missing file → FileNotFound, of an existing one truncates it and ACKs
//!   size 4 (0); WriteFile ACK offset 0; rmdir of a non-empty directory →
//!   NAK Fail;
//! - no reply to opcodes 0, 12 (TruncateFile) and unknown ones;
//!   ListDirectoryWithTime (16) answered with mtimes; no duplicate
//!   detection.
//!
//! `MAVSDK3` (MAVSDK 2.x–3.x, whose FtpServer streams a burst from a thread
//! of its own, MAVSDK PR #2250 until #3051) differs in its bursts only:
//! - unbounded: one burst runs to the end of the file (bc=1 on its last
//!   data packet, no EOF NAK);
//! - one stream per session, read at its current position by ReadFile (after
//!   a seek to the offset asked) and by the burst (with no seek per packet,
//!   the packet labelled with the burst's own running offset): a ReadFile
//!   answered while a burst streams shifts the bytes of every later burst
//!   packet (docs/PROTOCOL_NOTES.md §6).

use std::time::Duration;

use mavftp::protocol::{FtpPacket, NakCode, Opcode};

use super::{Knobs, Rules, Session, State, close_all};

/// MAVSDK 4.1 sets bc=1 every this many packets.
pub const MAVSDK_BURST_PACKETS: u32 = 150;

/// MAVSDK's FtpServer, in one of two generations.
pub(super) struct Mavsdk {
    /// 2.x–3.x: a burst thread, unbounded bursts, one shared read position.
    burst_thread: bool,
}

/// MAVSDK 4.1.
pub(super) const MAVSDK41: Mavsdk = Mavsdk {
    burst_thread: false,
};
/// MAVSDK 2.x–3.x.
pub(super) const MAVSDK3: Mavsdk = Mavsdk { burst_thread: true };

impl Rules for Mavsdk {
    fn burst_pace(&self, knobs: &Knobs) -> (usize, Duration) {
        (1, knobs.burst_gap)
    }

    fn nak(&self, req: &FtpPacket, code: NakCode) -> FtpPacket {
        let mut n = FtpPacket::nak_for(req, code, 0);
        if code == NakCode::Eof {
            n.offset = 0;
        }
        n
    }

    fn session_for(&self, st: &State, req: &FtpPacket) -> Result<Session, NakCode> {
        if req.session != 0 {
            return Err(NakCode::Fail);
        }
        st.sessions.get(&0).cloned().ok_or(NakCode::Fail)
    }

    fn open_session(&self, st: &mut State, _: &FtpPacket, s: Session) -> Result<u8, NakCode> {
        if !st.sessions.is_empty() {
            st.stats.sessions_lost += 1;
        }
        st.sessions.clear();
        st.burst = None;
        st.sessions.insert(0, s);
        Ok(0)
    }

    fn own_answer(&self, st: &mut State, req: &FtpPacket, _: &str) -> Option<Option<FtpPacket>> {
        match req.opcode {
            Opcode::None | Opcode::TruncateFile | Opcode::Unknown(_) => Some(None),
            Opcode::TerminateSession => {
                close_all(st, false);
                Some(Some(FtpPacket::ack_for(req, Vec::new())))
            }
            _ => None,
        }
    }

    fn create_without_parent(&self) -> NakCode {
        NakCode::Fail
    }

    fn open_wo_needs_the_file(&self) -> bool {
        true
    }

    fn open_wo_truncates(&self) -> bool {
        true
    }

    fn create_ack(&self, create: bool, _: u32) -> Vec<u8> {
        if create {
            Vec::new()
        } else {
            0u32.to_le_bytes().to_vec()
        }
    }

    fn write_ack(&self, req: &FtpPacket) -> FtpPacket {
        let mut a = FtpPacket::ack_for(req, Vec::new());
        a.offset = 0;
        a
    }

    fn rmdir_not_empty(&self, req: &FtpPacket) -> FtpPacket {
        FtpPacket::nak_for(req, NakCode::Fail, 0)
    }

    fn read_past_end_fails(&self) -> bool {
        true
    }

    fn burst_chunk(&self, st: &mut State, req: &FtpPacket) -> Option<usize> {
        if req.data.is_empty() {
            st.stats.zero_size_bursts += 1;
            return None;
        }
        Some(req.data.len())
    }

    fn burst_bc(&self, b: &super::Burst, _: bool, last: bool, _: &Knobs) -> bool {
        last || (!self.burst_thread && b.packets.is_multiple_of(MAVSDK_BURST_PACKETS))
    }

    fn shared_read_position(&self) -> bool {
        self.burst_thread
    }
}
