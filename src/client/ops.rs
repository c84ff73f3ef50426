//! One function per operation kind, each run on the worker with the
//! conversation. Downloads go to a temp file renamed into place on success.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::engine::{Conversation, Reply, is_nak};
use super::window::Window;
use super::{DirEntry, EntryKind, Listing, Progress, ProgressFn};
use crate::protocol::{
    FtpPacket, ListingEntry, MAX_DATA, MavCrc32, NakCode, Opcode, nak_to_error, parse_listing,
};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Rate-limits progress callbacks: at most every 1 % or 100 ms, whichever is rarer.
pub(crate) struct ProgressGate {
    f: Option<ProgressFn>,
    last_at: Option<Instant>,
    last_bytes: u32,
}

impl ProgressGate {
    pub fn new(f: Option<ProgressFn>) -> ProgressGate {
        ProgressGate {
            f,
            last_at: None,
            last_bytes: 0,
        }
    }
    /// The last progress of a completed transfer: `len` of `len` bytes.
    pub fn finish(&mut self, len: u32) {
        let p = Progress {
            bytes_transferred: len,
            total_bytes: len,
        };
        self.report(p, true);
    }

    pub fn report(&mut self, p: Progress, force: bool) {
        let Some(f) = self.f.as_mut() else { return };
        let step = (p.total_bytes / 100).max(1);
        let time_ok = self
            .last_at
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        let bytes_ok =
            p.bytes_transferred.saturating_sub(self.last_bytes) >= step || p.total_bytes == 0;
        if force || (time_ok && bytes_ok) {
            self.last_at = Some(Instant::now());
            self.last_bytes = p.bytes_transferred;
            f(p);
        }
    }
}

fn file_name(path: &str) -> FtpOutcome<&str> {
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() || name == "." || name == ".." {
        return Err(FtpError::invalid(format!("'{path}' has no file name")));
    }
    Ok(name)
}

/// Temp file in `dir`, deleted on drop unless kept.
pub(crate) struct PartFile {
    path: PathBuf,
    file: Option<std::io::BufWriter<File>>,
    keep: bool,
}

impl PartFile {
    fn create(dir: &Path, name: &str) -> FtpOutcome<PartFile> {
        for _ in 0..8 {
            let path = dir.join(format!(
                ".{name}.mavftp-part-{:04x}{:04x}",
                super::engine::rand_u16(),
                super::engine::rand_u16()
            ));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => {
                    return Ok(PartFile {
                        path,
                        file: Some(std::io::BufWriter::new(f)),
                        keep: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(FtpError::io(format!("create {}", path.display()), &e)),
            }
        }
        Err(FtpError::new(
            FtpResult::FileIoError,
            "could not create a temporary file",
        ))
    }
    pub(super) fn write_at(&mut self, offset: u64, data: &[u8]) -> FtpOutcome<()> {
        use std::io::Seek;
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| FtpError::new(FtpResult::FileIoError, "temp file closed"))?;
        f.seek(std::io::SeekFrom::Start(offset))
            .map_err(|e| FtpError::io("seek temp file", &e))?;
        f.write_all(data)
            .map_err(|e| FtpError::io("write temp file", &e))
    }
    /// Cut the file at `len` (reads past the end may have landed beyond it).
    pub(super) fn truncate(&mut self, len: u32) -> FtpOutcome<()> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| FtpError::new(FtpResult::FileIoError, "temp file closed"))?;
        f.flush().map_err(|e| FtpError::io("flush temp file", &e))?;
        f.get_ref()
            .set_len(len as u64)
            .map_err(|e| FtpError::io("truncate temp file", &e))
    }
    fn commit(mut self, dest: &Path) -> FtpOutcome<()> {
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(|e| FtpError::io("flush temp file", &e))?;
            let inner = f
                .into_inner()
                .map_err(|e| FtpError::io("flush temp file", e.error()))?;
            let _ = inner.sync_all();
        }
        std::fs::rename(&self.path, dest)
            .map_err(|e| FtpError::io(format!("rename to {}", dest.display()), &e))?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        self.file.take();
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn path_packet(op: Opcode, path: &str) -> FtpPacket {
    let mut p = FtpPacket::request(op, 0);
    p.data = path.as_bytes().to_vec();
    p
}

/// Open a file read-only, handling NoSessionsAvailable with one reset.
fn open_ro(conv: &mut Conversation, remote: &str) -> FtpOutcome<(u8, u32)> {
    for attempt in 0..2 {
        let mut req = path_packet(Opcode::OpenFileRO, remote);
        req.session = conv.fresh_session();
        match conv.transact(req)? {
            Reply::Ack(p) => return Ok((p.session, p.data_u32().unwrap_or(0))),
            Reply::Nak(p) => {
                let retryable =
                    is_nak(&p, NakCode::NoSessionsAvailable) || is_nak(&p, NakCode::Fail);
                if attempt == 0 && retryable {
                    conv.reset_sessions();
                    continue;
                }
                return Err(nak_to_error(&p, &format!("open {remote}")));
            }
        }
    }
    Err(FtpError::new(
        FtpResult::ProtocolError,
        format!("open {remote} failed"),
    ))
}

/// Download `remote` into `local_dir`.
pub(crate) fn download(
    conv: &mut Conversation,
    remote: &str,
    local_dir: &Path,
    use_burst: bool,
    progress: &mut ProgressGate,
) -> FtpOutcome<()> {
    let name = file_name(remote)?;
    let dest = local_dir.join(name);
    conv.ensure_reset()?;
    let mut part = PartFile::create(local_dir, name)?;
    let (session, size) = open_ro(conv, remote)?;
    let result = if use_burst {
        super::burst::burst_body(conv, session, size, &mut part, progress)
    } else {
        let mut win = Window::for_data(conv, conv.settings().read_window);
        let read = read_body(conv, &mut win, session, size, &mut part, progress, 0);
        win.save_probe(conv);
        read.map(|_| ())
    };
    match result {
        Ok(()) => {
            conv.terminate(session);
            part.commit(&dest)?;
            let len = std::fs::metadata(&dest).map_or(0, |m| m.len()) as u32;
            progress.finish(len);
            Ok(())
        }
        Err(e) => {
            conv.terminate(session);
            conv.reset_sessions();
            Err(e)
        }
    }
}

/// Read with the window `win` of ReadFile requests (empty; its estimates
/// may come from earlier reads) from `start` until EOF. Returns the file
/// length. The open size only shapes the requests: the end is a short read,
/// an empty ACK or NAK EOF (NAK Fail past the size, MAVSDK).
pub(super) fn read_body(
    conv: &mut Conversation,
    win: &mut Window<(u32, u32)>,
    session: u8,
    size: u32,
    part: &mut PartFile,
    progress: &mut ProgressGate,
    start: u32,
) -> FtpOutcome<u32> {
    let mut next = start; // next offset to request
    let mut end: Option<u32> = None; // known end of file
    let mut done_bytes = 0u32;
    loop {
        conv.check_cancel()?;
        while win.has_room() && end.is_none_or(|e| next < e) {
            // Past the advertised size, probe one read at a time.
            if size > 0 && next >= size && win.any(|&(o, _)| o >= size) {
                break;
            }
            // Ask exactly the remainder when the size is known; past it, probe with a full read.
            let want = if size > next {
                (size - next).min(MAX_DATA as u32)
            } else {
                MAX_DATA as u32
            };
            let mut req = FtpPacket::request(Opcode::ReadFile, 0);
            req.session = session;
            req.offset = next;
            // ReadFile carries the wanted size in `size` (data.len()), zero bytes.
            req.data = vec![0u8; want as usize];
            win.send(conv, req, (next, want))?;
            next += want;
        }
        if win.in_flight() == 0 {
            let e = end.unwrap_or(next);
            part.truncate(e)?;
            return Ok(e);
        }
        let ((offset, want), reply) = win.next_reply(conv)?;
        let eof_at = match reply {
            Reply::Ack(p) => {
                let n = (p.data.len() as u32).min(want);
                if n > 0 && end.is_none_or(|e| offset < e) {
                    part.write_at(offset as u64, &p.data[..n as usize])?;
                    done_bytes += n;
                    progress.report(
                        Progress {
                            bytes_transferred: start + done_bytes,
                            total_bytes: size.max(start + done_bytes),
                        },
                        false,
                    );
                }
                (n < want).then_some(offset + n)
            }
            Reply::Nak(p) => {
                if is_nak(&p, NakCode::Eof)
                    || (is_nak(&p, NakCode::Fail) && size > 0 && offset >= size)
                {
                    Some(offset)
                } else {
                    return Err(nak_to_error(&p, &format!("read at offset {offset}")));
                }
            }
        };
        if let Some(e) = eof_at {
            let e = end.map_or(e, |old| old.min(e));
            end = Some(e);
            win.drop_where(|&(o, _)| o >= e);
        }
    }
}

/// Remove `[start, end)` from the holes; true if it overlapped one.
pub(super) fn cut_hole(holes: &mut Vec<(u32, u32)>, start: u32, end: u32) -> bool {
    let mut hit = false;
    let mut out = Vec::with_capacity(holes.len() + 1);
    for &(a, b) in holes.iter() {
        if end <= a || start >= b {
            out.push((a, b));
            continue;
        }
        hit = true;
        if a < start {
            out.push((a, start));
        }
        if end < b {
            out.push((end, b));
        }
    }
    *holes = out;
    hit
}

/// Upload `local` into `remote_dir`.
pub(crate) fn upload(
    conv: &mut Conversation,
    local: &Path,
    remote_dir: &str,
    progress: &mut ProgressGate,
) -> FtpOutcome<()> {
    let name = local
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| FtpError::invalid(format!("{} has no UTF-8 file name", local.display())))?;
    let remote = if remote_dir.ends_with('/') {
        format!("{remote_dir}{name}")
    } else {
        format!("{remote_dir}/{name}")
    };
    crate::protocol::validate_remote_path(&remote)?;
    let mut data = Vec::new();
    File::open(local)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| FtpError::io(format!("read {}", local.display()), &e))?;
    if data.len() > u32::MAX as usize {
        return Err(FtpError::invalid("file too large"));
    }
    conv.ensure_reset()?;
    let mut session = 0;
    for attempt in 0..2 {
        let mut req = path_packet(Opcode::CreateFile, &remote);
        req.session = conv.fresh_session();
        match conv.transact(req)? {
            Reply::Ack(p) => {
                session = p.session;
                break;
            }
            Reply::Nak(p) => {
                if attempt == 0
                    && (is_nak(&p, NakCode::NoSessionsAvailable) || is_nak(&p, NakCode::Fail))
                {
                    conv.reset_sessions();
                    continue;
                }
                return Err(nak_to_error(&p, &format!("create {remote}")));
            }
        }
    }
    let result = match write_body(conv, session, &data, &remote, progress) {
        // The data is final only once the close is acknowledged (MAVSDK's
        // server buffers writes until TerminateSession).
        Ok(()) => close_upload(conv, session, &remote),
        Err(e) => {
            conv.terminate(session);
            Err(e)
        }
    };
    match result {
        Ok(()) => progress.finish(data.len() as u32),
        Err(_) => conv.reset_sessions(),
    }
    result
}

/// TerminateSession after an upload, retried like any request. A NAK
/// InvalidSession or Fail to a *resent* close means the first one closed the
/// session and only its ACK was lost.
fn close_upload(conv: &mut Conversation, session: u8, remote: &str) -> FtpOutcome<()> {
    let mut req = FtpPacket::request(Opcode::TerminateSession, 0);
    req.session = session;
    let mut win: Window<()> = Window::new(conv, 1);
    win.send(conv, req, ())?;
    let ((), reply) = win.next_reply(conv)?;
    match reply {
        Reply::Ack(_) => Ok(()),
        Reply::Nak(p)
            if win.counts().resends > 0
                && (is_nak(&p, NakCode::InvalidSession) || is_nak(&p, NakCode::Fail)) =>
        {
            Ok(())
        }
        Reply::Nak(p) => Err(nak_to_error(&p, &format!("close {remote}"))),
    }
}

/// Write `data` with a window of WriteFile requests; only unacknowledged
/// blocks are resent (by the window, with their own seq).
fn write_body(
    conv: &mut Conversation,
    session: u8,
    data: &[u8],
    remote: &str,
    progress: &mut ProgressGate,
) -> FtpOutcome<()> {
    let total = data.len() as u32;
    let mut win: Window<usize> = Window::for_data(conv, conv.settings().write_window);
    let mut next = 0usize;
    let mut acked = 0u32;
    let result = loop {
        conv.check_cancel()?;
        while win.has_room() && next < data.len() {
            let n = (data.len() - next).min(MAX_DATA);
            let mut req = FtpPacket::request(Opcode::WriteFile, 0);
            req.session = session;
            req.offset = next as u32;
            req.data = data[next..next + n].to_vec();
            win.send(conv, req, next)?;
            next += n;
        }
        if win.in_flight() == 0 {
            break Ok(());
        }
        let (offset, reply) = match win.next_reply(conv) {
            Ok(r) => r,
            Err(e) => break Err(e),
        };
        match reply {
            Reply::Ack(_) => {
                acked += (data.len() - offset).min(MAX_DATA) as u32;
                progress.report(
                    Progress {
                        bytes_transferred: acked,
                        total_bytes: total,
                    },
                    false,
                );
            }
            Reply::Nak(p) => {
                break Err(nak_to_error(
                    &p,
                    &format!("write {remote} at offset {offset}"),
                ));
            }
        }
    };
    win.save_probe(conv);
    result
}

/// List a directory (opcode 16 first, falling back to 3).
pub(crate) fn list(conv: &mut Conversation, dir: &str) -> FtpOutcome<Listing> {
    let mut with_time = conv.list_with_time != Some(false);
    let mut entries: Vec<DirEntry> = Vec::new();
    let mut offset = 0u32;
    loop {
        conv.check_cancel()?;
        let op = if with_time {
            Opcode::ListDirectoryWithTime
        } else {
            Opcode::ListDirectory
        };
        let mut req = path_packet(op, dir);
        req.offset = offset;
        let reply = if with_time && conv.list_with_time.is_none() {
            // Probe: a server that ignores the opcode (MAVSDK) must not cost all retries.
            let saved = conv.shared.settings.lock().map(|s| s.retries).unwrap_or(10);
            if let Ok(mut s) = conv.shared.settings.lock() {
                s.retries = 1;
            }
            let r = conv.transact(req);
            if let Ok(mut s) = conv.shared.settings.lock() {
                s.retries = saved;
            }
            match r {
                Err(e) if e.result == FtpResult::Timeout => {
                    conv.list_with_time = Some(false);
                    with_time = false;
                    continue;
                }
                other => other?,
            }
        } else {
            conv.transact(req)?
        };
        match reply {
            Reply::Ack(p) => {
                if with_time {
                    conv.list_with_time = Some(true);
                }
                if p.data.is_empty() {
                    break;
                }
                let (parsed, counted) = parse_listing(&p.data);
                for e in parsed {
                    match e {
                        ListingEntry::File { name, size, mtime } => entries.push(DirEntry {
                            name,
                            kind: EntryKind::File,
                            size_bytes: size,
                            modification_time_s: mtime.unwrap_or(0),
                        }),
                        ListingEntry::Directory { name, mtime } => {
                            if name != "." && name != ".." {
                                entries.push(DirEntry {
                                    name,
                                    kind: EntryKind::Directory,
                                    size_bytes: 0,
                                    modification_time_s: mtime.unwrap_or(0),
                                })
                            }
                        }
                        ListingEntry::Skip => {}
                    }
                }
                if counted == 0 {
                    break;
                }
                offset += counted;
            }
            Reply::Nak(p) => {
                if is_nak(&p, NakCode::Eof) {
                    break;
                }
                if with_time
                    && conv.list_with_time != Some(true)
                    && (is_nak(&p, NakCode::UnknownCommand) || is_nak(&p, NakCode::Fail))
                {
                    conv.list_with_time = Some(false);
                    with_time = false;
                    continue;
                }
                return Err(nak_to_error(&p, &format!("list {dir}")));
            }
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Listing { entries })
}

/// A simple path command (mkdir, rmdir, rm).
pub(crate) fn simple(conv: &mut Conversation, op: Opcode, path: &str) -> FtpOutcome<()> {
    conv.request_ok(path_packet(op, path), &format!("{op:?} {path}"))
        .map(|_| ())
}

/// Rename.
pub(crate) fn rename(conv: &mut Conversation, from: &str, to: &str) -> FtpOutcome<()> {
    let mut req = FtpPacket::request(Opcode::Rename, 0);
    req.data = from.as_bytes().to_vec();
    req.data.push(0);
    req.data.extend_from_slice(to.as_bytes());
    if req.data.len() > MAX_DATA {
        return Err(FtpError::invalid("rename paths too long together"));
    }
    conv.request_ok(req, &format!("rename {from} to {to}"))
        .map(|_| ())
}

/// CRC comparison.
pub(crate) fn crc_compare(conv: &mut Conversation, local: &Path, remote: &str) -> FtpOutcome<bool> {
    let mut crc = MavCrc32::new();
    let mut f =
        File::open(local).map_err(|e| FtpError::io(format!("open {}", local.display()), &e))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| FtpError::io(format!("read {}", local.display()), &e))?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
    }
    let p = conv.request_ok(
        path_packet(Opcode::CalcFileCRC32, remote),
        &format!("CRC32 of {remote}"),
    )?;
    let remote_crc = p
        .data_u32()
        .ok_or_else(|| FtpError::new(FtpResult::ProtocolError, "CRC32 reply without a value"))?;
    Ok(remote_crc == crc.value())
}
