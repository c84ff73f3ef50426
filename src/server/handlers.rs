//! One function per opcode, over one peer's state and the filesystem: a
//! request in, the reply packet(s) out — or a burst job to stream, or work
//! to finish in steps ([`finish_step`]).
//!
//! Choices documented here: ReadFile with size 0 reads 239 bytes (like
//! MAVSDK/ArduPilot; PX4 ≥ 1.14 returns 0 bytes); listings are sorted by name
//! bytes and leave out `.` and `..`; entries that cannot be represented
//! (symlinks, devices, sockets, names with tab/newline or invalid UTF-8, or
//! too long for a packet) are `S` placeholders so indices stay stable; a
//! listing of a regular file is NAK FailErrno(ENOTDIR); paths resolving to the
//! root itself cannot be removed, renamed, truncated or opened for writing.
//! Only regular files are opened ([`open_regular`]): a FIFO, a device or a
//! socket in the root (or a symlink to one that stays inside it) gets NAK
//! FailErrno EINVAL (a directory EISDIR) at OpenFileRO, OpenFileWO,
//! CreateFile, TruncateFile and CalcFileCRC32, at once: no open blocks.
//! The protocol's offsets and sizes are 32-bit: OpenFileRO (and OpenFileWO)
//! of a file of 4 GiB or more, a read of a file that has grown that large
//! and a write that would end beyond 4 GiB − 1 get NAK FailErrno EFBIG (27);
//! listings show true 64-bit sizes. A listing from offset 0 takes a snapshot
//! of the directory that its continuation requests (offset > 0, within
//! [`LISTING_TTL`]) page through.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::protocol::{
    FtpPacket, ListingEntry, MAX_DATA, MavCrc32, NakCode, Opcode, encode_listing_entry,
};

use super::burst::BurstJob;
use super::jail::{FinalMode, JailError, Resolved, RootJail, errno_of};
use super::peers::{LISTING_TTL, ListingSnapshot, PeerState};
use super::sessions::Peer;
use super::work::{CrcCache, FileKey, Pending, Step};

/// Largest file size (and write end) the protocol's 32-bit offsets and sizes
/// can describe: 4 GiB − 1.
pub const MAX_PROTOCOL_SIZE: u64 = u32::MAX as u64;

/// The server state a handler works on: one peer's, plus what is shared.
pub struct Ctx<'a> {
    /// The jail.
    pub jail: &'a RootJail,
    /// The requesting peer.
    pub peer: Peer,
    /// Its state (sessions, cache, listing snapshot, burst rate).
    pub state: &'a mut PeerState,
    /// Refuse every change with FileProtected.
    pub read_only: bool,
    /// Session idle timeout (an open over the peer's quota first closes its
    /// idle sessions).
    pub idle: Duration,
    /// CRC results of unchanged files.
    pub crc_cache: &'a Mutex<CrcCache>,
}

/// What a request produces.
#[derive(Debug)]
pub enum Outcome {
    /// Reply packets, cached for duplicates.
    Reply(Vec<FtpPacket>),
    /// Start (or restart) a burst on the request's session.
    Burst(BurstJob),
    /// The answer needs more work, done in steps ([`finish_step`]).
    Pending(Pending),
}

fn nak(req: &FtpPacket, code: NakCode) -> Outcome {
    Outcome::Reply(vec![FtpPacket::nak_for(req, code, 0)])
}

fn ack(req: &FtpPacket, data: Vec<u8>) -> Outcome {
    Outcome::Reply(vec![FtpPacket::ack_for(req, data)])
}

fn jail_nak(req: &FtpPacket, e: JailError) -> Outcome {
    let (code, errno) = e.nak();
    Outcome::Reply(vec![FtpPacket::nak_for(req, code, errno)])
}

/// The NAK of an I/O error (FileNotFound, FileExists, else FailErrno).
pub fn io_nak(req: &FtpPacket, e: &io::Error) -> Outcome {
    let errno = errno_of(e);
    let code = match e.kind() {
        io::ErrorKind::NotFound => NakCode::FileNotFound,
        io::ErrorKind::AlreadyExists => NakCode::FileExists,
        _ => NakCode::FailErrno,
    };
    Outcome::Reply(vec![FtpPacket::nak_for(
        req,
        code,
        errno.clamp(0, 255) as u8,
    )])
}

fn errno_nak(req: &FtpPacket, errno: i32) -> Outcome {
    Outcome::Reply(vec![FtpPacket::nak_for(
        req,
        NakCode::FailErrno,
        errno as u8,
    )])
}

/// The error for a path that is not a regular file: EISDIR for a directory,
/// EINVAL for anything else (FIFO, device, socket — what the kernel answers
/// to `ftruncate` or `sendfile` of such a file).
fn not_regular(md: &fs::Metadata) -> io::Error {
    io::Error::from_raw_os_error(if md.is_dir() {
        libc::EISDIR
    } else {
        libc::EINVAL
    })
}

/// Open a path resolved inside the root as a regular file, never anything
/// else, and never block. Every network request is untrusted: opening a FIFO
/// waits for its other end, a device may act on open (a tty, a watchdog) or
/// never end (`/dev/zero`), so the type is checked before the open, and the
/// open itself (`O_NONBLOCK | O_NOCTTY | O_NOFOLLOW`) cannot block or take a
/// terminal when the file is swapped for another in between; the open file
/// is checked again, then made blocking (as regular files always are).
/// A path that does not exist yet is left to the open (created or ENOENT).
fn open_regular(path: &Path, options: &mut OpenOptions) -> io::Result<(File, fs::Metadata)> {
    match fs::symlink_metadata(path) {
        Ok(md) if !md.is_file() => return Err(not_regular(&md)),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(not_regular(&md));
    }
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is the open descriptor `file` owns; F_GETFL/F_SETFL only
    // read and change its status flags.
    let cleared = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
    };
    if !cleared {
        return Err(io::Error::last_os_error());
    }
    Ok((file, md))
}

macro_rules! try_jail {
    ($req:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return jail_nak($req, e),
        }
    };
}

macro_rules! try_io {
    ($req:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return io_nak($req, &e),
        }
    };
}

/// Handle one request.
pub fn handle(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    match req.opcode {
        Opcode::None => ack(req, Vec::new()),
        Opcode::TerminateSession => terminate(ctx, req),
        Opcode::ResetSessions => reset(ctx, req),
        Opcode::ListDirectory => list(ctx, req, false),
        Opcode::ListDirectoryWithTime => list(ctx, req, true),
        Opcode::OpenFileRO => open_ro(ctx, req),
        Opcode::ReadFile => read(ctx, req),
        Opcode::CreateFile => open_write(ctx, req, true),
        Opcode::OpenFileWO => open_write(ctx, req, false),
        Opcode::WriteFile => write(ctx, req),
        Opcode::RemoveFile => remove_file(ctx, req),
        Opcode::CreateDirectory => mkdir(ctx, req),
        Opcode::RemoveDirectory => rmdir(ctx, req),
        Opcode::TruncateFile => truncate(ctx, req),
        Opcode::Rename => rename(ctx, req),
        Opcode::CalcFileCRC32 => crc32(ctx, req),
        Opcode::BurstReadFile => burst(ctx, req),
        Opcode::Ack | Opcode::Nak | Opcode::Unknown(_) => nak(req, NakCode::UnknownCommand),
    }
}

/// TerminateSession (1). The close takes the session's burst gate, so no
/// burst packet of it follows this ACK.
pub fn terminate(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    if ctx.state.sessions.close(req.session) {
        ack(req, Vec::new())
    } else {
        nak(req, NakCode::InvalidSession)
    }
}

/// ResetSessions (2): closes only the requesting peer's sessions.
pub fn reset(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    ctx.state.sessions.clear();
    ctx.state.cache.clear();
    ctx.state.listing = None;
    ack(req, Vec::new())
}

/// ListDirectory (3) and ListDirectoryWithTime (16): offset = first entry
/// index. Offset 0 reads the directory (in steps: [`Pending::List`]); later
/// offsets page through that snapshot while it is fresh.
pub fn list(ctx: &mut Ctx<'_>, req: &FtpPacket, with_time: bool) -> Outcome {
    let r = try_jail!(req, ctx.jail.resolve(&req.data, FinalMode::Follow));
    let md = try_io!(req, fs::metadata(&r.path));
    if !md.is_dir() {
        return errno_nak(req, libc::ENOTDIR);
    }
    let key = FileKey::of(&md);
    if req.offset > 0
        && let Some(snap) = &ctx.state.listing
        && snap.path == r.path
        && snap.key == key
        && snap.at.elapsed() < LISTING_TTL
    {
        return listing_reply(req, &snap.entries, with_time);
    }
    let dir = try_io!(req, fs::read_dir(&r.path));
    Outcome::Pending(Pending::List {
        request: req.clone(),
        with_time,
        path: r.path,
        key,
        dir,
        entries: Vec::new(),
    })
}

/// The reply to a listing request from the sorted entries of its directory.
fn listing_reply(req: &FtpPacket, entries: &[ListingEntry], with_time: bool) -> Outcome {
    let start = req.offset as usize;
    if start >= entries.len() {
        return nak(req, NakCode::Eof);
    }
    let mut data = Vec::new();
    for entry in &entries[start..] {
        let mut bytes = encode_listing_entry(entry, with_time);
        if bytes.len() > MAX_DATA {
            bytes = encode_listing_entry(&ListingEntry::Skip, with_time);
        }
        if data.len() + bytes.len() > MAX_DATA {
            break;
        }
        data.extend(bytes);
    }
    ack(req, data)
}

/// Advance a pending request by one step (until `deadline`); Some(outcome)
/// when it is answered.
pub fn finish_step(ctx: &mut Ctx<'_>, pending: &mut Pending, deadline: Instant) -> Option<Outcome> {
    if let Pending::Crc { key, request, .. } = pending
        && let Some(crc) = ctx.crc_cache.lock().get(key)
    {
        // Another peer's CRC of the same unchanged file finished first.
        return Some(ack(request, crc.to_le_bytes().to_vec()));
    }
    match pending.step(deadline) {
        Step::More => None,
        Step::Failed(e) => Some(io_nak(pending.request(), &e)),
        Step::Crc(crc) => {
            if let Pending::Crc { key, .. } = pending {
                ctx.crc_cache.lock().put(*key, crc);
            }
            Some(ack(pending.request(), crc.to_le_bytes().to_vec()))
        }
        Step::Listing(entries) => {
            let Pending::List {
                request,
                with_time,
                path,
                key,
                ..
            } = pending
            else {
                return None;
            };
            let reply = listing_reply(request, &entries, *with_time);
            ctx.state.listing = Some(ListingSnapshot {
                path: std::mem::take(path),
                key: *key,
                entries,
                at: Instant::now(),
            });
            Some(reply)
        }
    }
}

/// OpenFileRO (4): ACK carries the file size (4 bytes).
pub fn open_ro(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    let r = try_jail!(req, ctx.jail.resolve(&req.data, FinalMode::Follow));
    let (file, md) = try_io!(req, open_regular(&r.path, OpenOptions::new().read(true)));
    if md.len() > MAX_PROTOCOL_SIZE {
        return errno_nak(req, libc::EFBIG);
    }
    let size = md.len() as u32;
    match ctx.state.sessions.open(req.session, file, false, ctx.idle) {
        Ok(id) => {
            let mut reply = FtpPacket::ack_for(req, size.to_le_bytes().to_vec());
            reply.session = id;
            Outcome::Reply(vec![reply])
        }
        Err(code) => nak(req, code),
    }
}

/// ReadFile (5): size 0 means 239; short read at the end; NAK EOF at/after
/// it. A read of bytes a burst round of this session already sent shows the
/// client lost them: the peer's burst rate backs off (once per round).
pub fn read(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    let Some(session) = ctx.state.sessions.get(req.session) else {
        return nak(req, NakCode::InvalidSession);
    };
    {
        let mut gate = session.gate.lock();
        if let Some(round) = gate.round.as_mut()
            && req.offset < round.sent_end
            && !round.loss_seen
        {
            round.loss_seen = true;
            ctx.state.flow.back_off();
        }
    }
    let want = match req.data.len() {
        0 => MAX_DATA,
        n => n,
    };
    // Bytes read ahead by the previous request: no size check, no read.
    if let Some(bytes) = session.cached(req.offset as u64, want) {
        return ack(req, bytes);
    }
    let size = try_io!(req, session.file.metadata()).len();
    if size > MAX_PROTOCOL_SIZE {
        return errno_nak(req, libc::EFBIG);
    }
    if req.offset as u64 >= size {
        return nak(req, NakCode::Eof);
    }
    let mut buf = vec![0u8; want.min((size - req.offset as u64) as usize)];
    let got = match session.read_at(req.offset as u64, &mut buf) {
        Ok(n) => n,
        Err(e) => return io_nak(req, &e),
    };
    if got == 0 {
        return nak(req, NakCode::Eof);
    }
    buf.truncate(got);
    ack(req, buf)
}

fn refuse_root(req: &FtpPacket, r: &Resolved) -> Option<Outcome> {
    r.is_root.then(|| nak(req, NakCode::FileProtected))
}

/// CreateFile (6, truncates) and OpenFileWO (11, does not truncate).
pub fn open_write(ctx: &mut Ctx<'_>, req: &FtpPacket, truncate: bool) -> Outcome {
    if ctx.read_only {
        return nak(req, NakCode::FileProtected);
    }
    let r = try_jail!(req, ctx.jail.resolve(&req.data, FinalMode::Create));
    if let Some(o) = refuse_root(req, &r) {
        return o;
    }
    let (file, md) = try_io!(
        req,
        open_regular(
            &r.path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(truncate)
        )
    );
    if md.len() > MAX_PROTOCOL_SIZE {
        return errno_nak(req, libc::EFBIG);
    }
    let data = if truncate {
        Vec::new()
    } else {
        (md.len() as u32).to_le_bytes().to_vec()
    };
    match ctx.state.sessions.open(req.session, file, true, ctx.idle) {
        Ok(id) => {
            let mut reply = FtpPacket::ack_for(req, data);
            reply.session = id;
            Outcome::Reply(vec![reply])
        }
        Err(code) => nak(req, code),
    }
}

/// WriteFile (7): ACK echoes the offset, no data. A write that would end
/// beyond 4 GiB − 1 is refused (EFBIG): every file stays readable.
pub fn write(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    if ctx.read_only {
        return nak(req, NakCode::FileProtected);
    }
    let Some(session) = ctx.state.sessions.get(req.session) else {
        return nak(req, NakCode::InvalidSession);
    };
    if !session.writable {
        return errno_nak(req, libc::EBADF);
    }
    if req.offset as u64 + req.data.len() as u64 > MAX_PROTOCOL_SIZE {
        return errno_nak(req, libc::EFBIG);
    }
    try_io!(req, session.file.write_all_at(&req.data, req.offset as u64));
    ack(req, Vec::new())
}

/// RemoveFile (8).
pub fn remove_file(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    if ctx.read_only {
        return nak(req, NakCode::FileProtected);
    }
    let r = try_jail!(req, ctx.jail.resolve(&req.data, FinalMode::NoFollow));
    if let Some(o) = refuse_root(req, &r) {
        return o;
    }
    let md = try_io!(req, fs::symlink_metadata(&r.path));
    if md.is_dir() {
        return errno_nak(req, libc::EISDIR);
    }
    try_io!(req, fs::remove_file(&r.path));
    ack(req, Vec::new())
}

/// CreateDirectory (9).
pub fn mkdir(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    if ctx.read_only {
        return nak(req, NakCode::FileProtected);
    }
    let r = try_jail!(req, ctx.jail.resolve(&req.data, FinalMode::Create));
    if r.exists {
        return nak(req, NakCode::FileExists);
    }
    try_io!(req, fs::create_dir(&r.path));
    ack(req, Vec::new())
}

/// RemoveDirectory (10).
pub fn rmdir(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    if ctx.read_only {
        return nak(req, NakCode::FileProtected);
    }
    let r = try_jail!(req, ctx.jail.resolve(&req.data, FinalMode::NoFollow));
    if let Some(o) = refuse_root(req, &r) {
        return o;
    }
    let md = try_io!(req, fs::symlink_metadata(&r.path));
    if !md.is_dir() {
        return errno_nak(req, libc::ENOTDIR);
    }
    try_io!(req, fs::remove_dir(&r.path));
    ack(req, Vec::new())
}

/// TruncateFile (12): path in data, new length in offset.
pub fn truncate(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    if ctx.read_only {
        return nak(req, NakCode::FileProtected);
    }
    let r = try_jail!(req, ctx.jail.resolve(&req.data, FinalMode::Follow));
    if let Some(o) = refuse_root(req, &r) {
        return o;
    }
    let (file, _) = try_io!(req, open_regular(&r.path, OpenOptions::new().write(true)));
    try_io!(req, file.set_len(req.offset as u64));
    ack(req, Vec::new())
}

/// Rename (13): data is `old\0new`.
pub fn rename(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    if ctx.read_only {
        return nak(req, NakCode::FileProtected);
    }
    let Some(split) = req.data.iter().position(|&b| b == 0) else {
        return nak(req, NakCode::Fail);
    };
    let (old, new) = (&req.data[..split], &req.data[split + 1..]);
    let from = try_jail!(req, ctx.jail.resolve(old, FinalMode::NoFollow));
    let to = try_jail!(req, ctx.jail.resolve(new, FinalMode::Create));
    if from.is_root || to.is_root {
        return nak(req, NakCode::FileProtected);
    }
    try_io!(req, fs::rename(&from.path, &to.path));
    ack(req, Vec::new())
}

/// CalcFileCRC32 (14): the MAVLink CRC32 variant of the whole file, from
/// the cache when the file is unchanged, else computed in steps.
pub fn crc32(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    let r = try_jail!(req, ctx.jail.resolve(&req.data, FinalMode::Follow));
    let (file, md) = try_io!(req, open_regular(&r.path, OpenOptions::new().read(true)));
    let key = FileKey::of(&md);
    if let Some(crc) = ctx.crc_cache.lock().get(&key) {
        return ack(req, crc.to_le_bytes().to_vec());
    }
    Outcome::Pending(Pending::Crc {
        request: req.clone(),
        file,
        key,
        crc: MavCrc32::new(),
    })
}

/// BurstReadFile (15): starts a burst round on an open session. Its offset
/// tells how the last round went: below the last round's end, the client
/// lost data (the peer's rate backs off); exactly at the end of a capped
/// round it lost nothing (the rate grows).
pub fn burst(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    let Some(session) = ctx.state.sessions.get(req.session) else {
        return nak(req, NakCode::InvalidSession);
    };
    let session = Arc::clone(session);
    let round = {
        let mut gate = session.gate.lock();
        if let Some(last) = gate.round {
            if req.offset < last.sent_end {
                if !last.loss_seen {
                    ctx.state.flow.back_off();
                }
            } else if req.offset == last.sent_end && last.finished && last.capped && !last.loss_seen
            {
                ctx.state.flow.grow();
            }
        }
        gate.new_round(req.offset)
    };
    Outcome::Burst(BurstJob::new(
        ctx.peer,
        req,
        session,
        round,
        Arc::clone(&ctx.state.flow),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A regular file comes back open and blocking (O_NONBLOCK was only for
    /// the open); a FIFO is refused without waiting for a writer.
    #[test]
    fn open_regular_gives_blocking_regular_files_and_refuses_a_fifo_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"bytes").unwrap();
        let (file, md) = open_regular(&path, OpenOptions::new().read(true)).unwrap();
        assert_eq!(md.len(), 5);
        // SAFETY: F_GETFL on a descriptor `file` owns.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        assert!(
            flags >= 0 && flags & libc::O_NONBLOCK == 0,
            "flags {flags:#x}"
        );

        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let refused = open_regular(&fifo, OpenOptions::new().read(true)).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(libc::EINVAL));
        let refused = open_regular(dir.path(), OpenOptions::new().read(true)).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(libc::EISDIR));
    }
}
