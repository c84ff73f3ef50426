//! What a download has and what it lacks, shared by plain reads and bursts
//! and kept across a re-opened session: the frontier (every byte below it is
//! on disk, in a hole, or asked for by a read in flight), the holes, the end
//! of file once known, and the window of ReadFile requests.
//!
//! Every byte is checked before it is written: it must lie below 4 GiB − 1
//! (the protocol's offsets are 32-bit; a longer file is FILE_IO_ERROR), and
//! no further beyond the size announced at open than an allowance (1 MiB or
//! a quarter of the size for files, 64 MiB for `@` virtual paths such as
//! ArduPilot's `@PARAM/param.pck`, whose announced size is fake), else
//! PROTOCOL_ERROR — a server cannot make the client read forever.

use super::conversation::{Conversation, Halt, Step};
use super::holes::HoleList;
use super::progress::ProgressGate;
use super::session::OpenSession;
use super::sink::DownloadSink;
use super::window::{Reply, Window, is_nak};
use crate::protocol::{FtpPacket, MAX_DATA, NakCode, Opcode, nak_to_error};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Longest file the protocol can carry: offsets are u32, and the byte at
/// offset 2^32 − 1 must be EOF to know the file ends.
pub(crate) const MAX_FILE_LEN: u64 = u32::MAX as u64;
/// Bytes accepted beyond the announced size of a file (or a quarter of
/// that size, whichever is more): logs still being written grow.
const BEYOND_ANNOUNCED: u64 = 1 << 20;
/// Bytes accepted beyond the announced size of an `@` virtual path.
const BEYOND_ANNOUNCED_VIRTUAL: u64 = 64 << 20;

/// The state of one download.
pub(crate) struct Fetch<'a> {
    pub conv: &'a mut Conversation,
    part: &'a mut dyn DownloadSink,
    progress: &'a mut ProgressGate,
    remote: &'a str,
    /// The session reads and bursts go to.
    pub session: u8,
    /// Size announced at the last open (advisory).
    pub size: u64,
    /// Whether the path is virtual (`@…`): its announced size is fake, so
    /// reads are not shaped by it (ArduPilot also wants one read size per
    /// handle there).
    virtual_path: bool,
    /// Longest file accepted (see the module doc).
    max_len: u64,
    /// Every byte below is on disk, in `holes`, or asked for by a read in flight.
    pub frontier: u64,
    /// Missing ranges below `frontier` not asked for.
    pub holes: HoleList,
    /// End of file, once a read ran into it.
    pub eof: Option<u64>,
    /// ReadFile requests in flight: (offset, length).
    pub reads: Window<(u64, u32)>,
    /// Whether a short read means the end of the file (plain reads) or only
    /// that the rest must be asked again (gap fill during a burst).
    short_read_is_eof: bool,
    /// The download is compared with the server's CalcFileCRC32 before it
    /// is reported complete: holes were read while a burst of a server that
    /// had not shown that its reads leave its bursts alone may still have
    /// streamed (see `burst.rs`).
    pub verify: bool,
}

impl<'a> Fetch<'a> {
    pub fn new(
        conv: &'a mut Conversation,
        part: &'a mut dyn DownloadSink,
        progress: &'a mut ProgressGate,
        remote: &'a str,
        session: &OpenSession,
    ) -> Fetch<'a> {
        let reads = Window::for_data(conv, conv.settings().read_window).lingering();
        let mut f = Fetch {
            conv,
            part,
            progress,
            remote,
            session: session.id,
            size: 0,
            virtual_path: remote.starts_with('@'),
            max_len: 0,
            frontier: 0,
            holes: HoleList::new(),
            eof: None,
            reads,
            short_read_is_eof: true,
            verify: false,
        };
        f.reopened(session);
        f
    }

    /// Bytes below `offset` are in the sink already (a resumed download):
    /// reads start there.
    pub fn start_at(&mut self, offset: u64) {
        self.frontier = offset;
    }

    /// Go on with a re-opened session (its announced size may differ).
    pub fn reopened(&mut self, session: &OpenSession) {
        self.session = session.id;
        self.size = u64::from(session.size);
        let allowance = if self.virtual_path {
            BEYOND_ANNOUNCED_VIRTUAL
        } else {
            BEYOND_ANNOUNCED.max(self.size / 4)
        };
        self.max_len = (self.size + allowance).min(MAX_FILE_LEN);
    }

    /// The session is gone: what its reads in flight asked for is missing again.
    pub fn lose_session(&mut self) {
        let asked: Vec<(u64, u32)> = self.reads.tags().copied().collect();
        for (o, n) in asked {
            self.holes.insert(o, o + u64::from(n));
        }
        self.reads.drop_where(|_| true);
    }

    /// Stop if the session was taken over: whatever arrived with or after
    /// the sign is not used.
    pub fn check_taken(&self) -> Step<()> {
        match self.conv.session_taken() {
            Some(why) => Err(Halt::SessionLost(why.to_string())),
            None => Ok(()),
        }
    }

    /// Plain reads from the frontier (and of any holes) until the end of
    /// the file; the file is then cut there. Returns its length.
    pub fn read_until_end(&mut self) -> Step<u64> {
        self.short_read_is_eof = true;
        loop {
            self.conv.check_cancel()?;
            self.request_reads(true)?;
            // Room left: nothing more to ask but what is in flight.
            self.reads.set_tail(self.reads.has_room());
            if self.reads.in_flight() == 0 {
                let end = self.eof.unwrap_or(self.frontier).min(self.frontier);
                self.part.truncate(end)?;
                return Ok(end);
            }
            let ((offset, want), reply) = self.reads.next_reply(self.conv)?;
            if let Err(lost) = self.check_taken() {
                // Not used: asked again after the re-open.
                self.holes.insert(offset, offset + u64::from(want));
                return Err(lost);
            }
            self.on_read_reply((offset, want), reply)?;
        }
    }

    /// Whether the size OpenFileRO announced is the file's (not zero, not
    /// the made-up size of a virtual `@` file).
    pub fn size_is_real(&self) -> bool {
        self.size > 0 && !self.virtual_path
    }

    /// Gap fill mode (during a burst): a short read is asked again.
    pub fn fill_mode(&mut self) {
        self.short_read_is_eof = false;
    }

    /// Send ReadFile requests while the window has room: holes first, then
    /// (when `advance`) from the frontier. Past the announced size one read
    /// at a time probes for the end; nothing is asked beyond the longest
    /// file accepted but one byte that must be EOF.
    pub fn request_reads(&mut self, advance: bool) -> FtpOutcome<()> {
        while self.reads.has_room() {
            if let Some((a, b)) = self.holes.take_front(MAX_DATA as u64) {
                if self.eof.is_some_and(|e| a >= e) {
                    continue;
                }
                self.send_read(a, (b - a) as u32)?;
                continue;
            }
            let next = self.frontier;
            if !advance || self.eof.is_some_and(|e| next >= e) || next > self.max_len {
                break;
            }
            let size = if self.virtual_path { 0 } else { self.size };
            if size > 0 && next >= size && self.reads.any(|&(o, _)| o >= size) {
                break;
            }
            // Ask exactly the remainder when the size is known; past it, probe with a full read.
            let want = if size > next {
                (size - next).min(MAX_DATA as u64)
            } else {
                MAX_DATA as u64
            };
            let want = want.min(self.max_len + 1 - next) as u32;
            self.send_read(next, want)?;
            self.frontier = next + u64::from(want);
        }
        Ok(())
    }

    fn send_read(&mut self, offset: u64, len: u32) -> FtpOutcome<()> {
        let mut req = FtpPacket::request(Opcode::ReadFile, 0);
        req.session = self.session;
        req.offset = wire_offset(offset)?;
        // ReadFile carries the wanted size in `size` (data.len()), zero bytes.
        req.data = vec![0u8; len as usize];
        self.reads.send(self.conv, req, (offset, len))
    }

    /// A reply to a read of `want` bytes at `offset` (already checked by
    /// the window: offset echoed, at most `want` bytes).
    pub fn on_read_reply(&mut self, (offset, want): (u64, u32), reply: Reply) -> Step<()> {
        let at_or_past_size = self.size > 0 && offset >= self.size && !self.virtual_path;
        match reply {
            Reply::Ack(p) if !p.data.is_empty() => {
                let n = p.data.len() as u32;
                if self.eof.is_none_or(|e| offset < e) {
                    self.store(offset, &p.data)?;
                }
                if n < want {
                    if self.short_read_is_eof {
                        self.set_eof(offset + u64::from(n));
                    } else {
                        // A short read inside the file: ask again for the rest.
                        self.holes
                            .insert(offset + u64::from(n), offset + u64::from(want));
                    }
                }
                self.report_progress();
                Ok(())
            }
            // NAK EOF or an empty read: the file ends here; MAVSDK's server
            // NAKs Fail a read past the end (docs/PROTOCOL_NOTES.md §10).
            Reply::Ack(_) => {
                self.set_eof(offset);
                Ok(())
            }
            Reply::Nak(p) if is_nak(&p, NakCode::Eof) => {
                self.set_eof(offset);
                Ok(())
            }
            Reply::Nak(p) if is_nak(&p, NakCode::Fail) && at_or_past_size => {
                self.set_eof(offset);
                Ok(())
            }
            Reply::Nak(p) if session_gone(&p) => {
                // Asked again after the re-open.
                self.holes.insert(offset, offset + u64::from(want));
                Err(Halt::SessionLost(format!(
                    "read at offset {offset} answered NAK {:?}",
                    p.nak_code()
                )))
            }
            Reply::Nak(p) => {
                Err(nak_to_error(&p, &format!("read {} at offset {offset}", self.remote)).into())
            }
        }
    }

    fn set_eof(&mut self, at: u64) {
        let e = self.eof.map_or(at, |old| old.min(at));
        self.eof = Some(e);
        self.reads.drop_where(|&(o, _)| o >= e);
        self.holes.cut(e, u64::MAX);
    }

    /// Check that `data` at `offset` fits the file this download may
    /// produce, and write it.
    pub fn store(&mut self, offset: u64, data: &[u8]) -> FtpOutcome<()> {
        let end = offset + data.len() as u64;
        if end > MAX_FILE_LEN {
            return Err(FtpError::new(
                FtpResult::FileIoError,
                format!(
                    "{} is 4 GiB or larger: MAVLink FTP offsets are 32-bit, files up to \
                     4 GiB - 1 byte can be transferred",
                    self.remote
                ),
            ));
        }
        if end > self.max_len {
            return Err(FtpError::new(
                FtpResult::ProtocolError,
                format!(
                    "{}: the server sent data up to byte {end}, more than {} bytes beyond \
                     the size it announced ({})",
                    self.remote,
                    self.max_len - self.size,
                    self.size
                ),
            ));
        }
        self.part.write_at(offset, data)
    }

    /// Bytes below the frontier not received yet (in holes or asked for).
    pub fn missing(&self) -> u64 {
        self.holes.total() + self.reads.tags().map(|&(_, n)| u64::from(n)).sum::<u64>()
    }

    pub fn report_progress(&mut self) {
        let have = self.frontier.saturating_sub(self.missing());
        let total = self.size.max(self.frontier);
        self.progress.report(have, total, false);
        self.part.contiguous(self.contiguous());
    }

    /// Every byte below this is stored: the frontier, or the first hole or
    /// read in flight below it.
    pub fn contiguous(&self) -> u64 {
        let hole = self.holes.first_start().unwrap_or(u64::MAX);
        let read = self.reads.tags().map(|&(o, _)| o).min().unwrap_or(u64::MAX);
        self.frontier.min(hole).min(read)
    }

    /// Cut the local file at `len`.
    pub fn truncate(&mut self, len: u64) -> FtpOutcome<()> {
        self.part.truncate(len)
    }
}

/// Whether a NAK to a read or burst means the server no longer serves our
/// session: PX4 InvalidSession (closed by a reset or after 10 s idle),
/// ArduPilot InvalidSession (another id holds the file) or FileNotFound (no
/// file open), MAVSDK Fail (nothing open: another client's Terminate).
pub(crate) fn session_gone(p: &FtpPacket) -> bool {
    is_nak(p, NakCode::InvalidSession)
        || is_nak(p, NakCode::FileNotFound)
        || is_nak(p, NakCode::Fail)
}

/// An offset as the protocol carries it.
pub(crate) fn wire_offset(offset: u64) -> FtpOutcome<u32> {
    u32::try_from(offset).map_err(|_| {
        FtpError::new(
            FtpResult::FileIoError,
            format!("offset {offset} is beyond 4 GiB: MAVLink FTP offsets are 32-bit"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_up_to_4_gib_minus_1_go_on_the_wire() {
        assert_eq!(wire_offset(0), Ok(0));
        assert_eq!(wire_offset(MAX_FILE_LEN), Ok(u32::MAX));
        let e = wire_offset(MAX_FILE_LEN + 1).unwrap_err();
        assert_eq!(e.result, FtpResult::FileIoError);
        assert!(e.message.contains("32-bit"), "{e}");
    }
}
