//! One function per opcode, pure over the filesystem: a request in, the reply
//! packet(s) out (or a burst job to stream).
//!
//! Choices documented here: ReadFile with size 0 reads 239 bytes (like
//! MAVSDK/ArduPilot; PX4 ≥ 1.14 returns 0 bytes); listings are sorted by name
//! bytes and leave out `.` and `..`; entries that cannot be represented
//! (symlinks, devices, sockets, names with tab/newline or invalid UTF-8, or
//! too long for a packet) are `S` placeholders so indices stay stable; a
//! listing of a regular file is NAK FailErrno(ENOTDIR); paths resolving to the
//! root itself cannot be removed, renamed, truncated or opened for writing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::UNIX_EPOCH;

use crate::protocol::{
    FtpPacket, ListingEntry, MAX_DATA, MavCrc32, NakCode, Opcode, encode_listing_entry,
};

use super::burst::BurstJob;
use super::jail::{FinalMode, JailError, Resolved, RootJail, errno_of};
use super::reply_cache::ReplyCache;
use super::sessions::{Peer, Sessions};

/// The server state a handler works on.
pub struct Ctx<'a> {
    /// The jail.
    pub jail: &'a RootJail,
    /// Open sessions.
    pub sessions: &'a mut Sessions,
    /// Reply cache (cleared for a peer on ResetSessions).
    pub cache: &'a mut ReplyCache,
    /// Refuse every change with FileProtected.
    pub read_only: bool,
    /// The requesting peer.
    pub peer: Peer,
}

/// What a request produces.
#[derive(Debug)]
pub enum Outcome {
    /// Reply packets, cached for duplicates.
    Reply(Vec<FtpPacket>),
    /// Start (or restart) a burst on the request's session.
    Burst(BurstJob),
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

fn io_nak(req: &FtpPacket, e: &io::Error) -> Outcome {
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

/// TerminateSession (1).
pub fn terminate(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    if ctx.sessions.close(ctx.peer, req.session) {
        ack(req, Vec::new())
    } else {
        nak(req, NakCode::InvalidSession)
    }
}

/// ResetSessions (2): closes only the requesting peer's sessions.
pub fn reset(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    ctx.sessions.reset_peer(ctx.peer);
    ctx.cache.forget_peer(ctx.peer);
    ack(req, Vec::new())
}

fn mtime_of(md: &fs::Metadata) -> u64 {
    md.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The listing entries of a directory, sorted by name, `.`/`..` left out.
pub fn directory_entries(dir: &std::path::Path) -> io::Result<Vec<ListingEntry>> {
    let mut names: Vec<(Vec<u8>, fs::DirEntry)> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        names.push((entry.file_name().as_bytes().to_vec(), entry));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(names
        .into_iter()
        .map(|(raw, entry)| {
            let name = match std::str::from_utf8(&raw) {
                Ok(n) if !n.contains(['\t', '\n', '\r']) => n.to_string(),
                _ => return ListingEntry::Skip,
            };
            match entry.metadata() {
                Ok(md) if md.file_type().is_file() => ListingEntry::File {
                    name,
                    size: md.len(),
                    mtime: Some(mtime_of(&md)),
                },
                Ok(md) if md.file_type().is_dir() => ListingEntry::Directory {
                    name,
                    mtime: Some(mtime_of(&md)),
                },
                _ => ListingEntry::Skip,
            }
        })
        .collect())
}

/// ListDirectory (3) and ListDirectoryWithTime (16): offset = first entry index.
pub fn list(ctx: &mut Ctx<'_>, req: &FtpPacket, with_time: bool) -> Outcome {
    let r = try_jail!(req, ctx.jail.resolve(&req.data, FinalMode::Follow));
    let md = try_io!(req, fs::metadata(&r.path));
    if !md.is_dir() {
        return errno_nak(req, libc::ENOTDIR);
    }
    let entries = try_io!(req, directory_entries(&r.path));
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

/// OpenFileRO (4): ACK carries the file size (4 bytes).
pub fn open_ro(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    let r = try_jail!(req, ctx.jail.resolve(&req.data, FinalMode::Follow));
    let file = try_io!(
        req,
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&r.path)
    );
    let md = try_io!(req, file.metadata());
    if md.is_dir() {
        return errno_nak(req, libc::EISDIR);
    }
    let size = md.len().min(u32::MAX as u64) as u32;
    match ctx.sessions.open(ctx.peer, req.session, file, false) {
        Ok(id) => {
            let mut reply = FtpPacket::ack_for(req, size.to_le_bytes().to_vec());
            reply.session = id;
            Outcome::Reply(vec![reply])
        }
        Err(code) => nak(req, code),
    }
}

/// ReadFile (5): size 0 means 239; short read at the end; NAK EOF at/after it.
pub fn read(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    let Some(session) = ctx.sessions.get(ctx.peer, req.session) else {
        return nak(req, NakCode::InvalidSession);
    };
    let want = match req.data.len() {
        0 => MAX_DATA,
        n => n,
    };
    let size = try_io!(req, session.file.metadata()).len();
    if req.offset as u64 >= size {
        return nak(req, NakCode::Eof);
    }
    let mut buf = vec![0u8; want.min((size - req.offset as u64) as usize)];
    let mut got = 0;
    while got < buf.len() {
        match session
            .file
            .read_at(&mut buf[got..], req.offset as u64 + got as u64)
        {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return io_nak(req, &e),
        }
    }
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
    let file = try_io!(
        req,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(truncate)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&r.path)
    );
    let md = try_io!(req, file.metadata());
    if !md.is_file() {
        return errno_nak(req, libc::EISDIR);
    }
    let data = if truncate {
        Vec::new()
    } else {
        (md.len().min(u32::MAX as u64) as u32)
            .to_le_bytes()
            .to_vec()
    };
    match ctx.sessions.open(ctx.peer, req.session, file, true) {
        Ok(id) => {
            let mut reply = FtpPacket::ack_for(req, data);
            reply.session = id;
            Outcome::Reply(vec![reply])
        }
        Err(code) => nak(req, code),
    }
}

/// WriteFile (7): ACK echoes the offset, no data.
pub fn write(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    if ctx.read_only {
        return nak(req, NakCode::FileProtected);
    }
    let Some(session) = ctx.sessions.get(ctx.peer, req.session) else {
        return nak(req, NakCode::InvalidSession);
    };
    if !session.writable {
        return errno_nak(req, libc::EBADF);
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
    let file = try_io!(
        req,
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&r.path)
    );
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

/// CalcFileCRC32 (14): the MAVLink CRC32 variant of the whole file.
pub fn crc32(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    let r = try_jail!(req, ctx.jail.resolve(&req.data, FinalMode::Follow));
    let mut file = try_io!(
        req,
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&r.path)
    );
    if try_io!(req, file.metadata()).is_dir() {
        return errno_nak(req, libc::EISDIR);
    }
    let mut crc = MavCrc32::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => crc.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return io_nak(req, &e),
        }
    }
    ack(req, crc.value().to_le_bytes().to_vec())
}

/// BurstReadFile (15): starts a burst job on an open session.
pub fn burst(ctx: &mut Ctx<'_>, req: &FtpPacket) -> Outcome {
    if ctx.sessions.get(ctx.peer, req.session).is_none() {
        return nak(req, NakCode::InvalidSession);
    }
    Outcome::Burst(BurstJob::new(ctx.peer, req))
}

/// A file of the session, for the burst streamer.
pub fn session_file(sessions: &mut Sessions, peer: Peer, id: u8) -> Option<&File> {
    sessions.get(peer, id).map(|s| &s.file)
}
