//! One function per operation kind, each run on the worker with the
//! conversation. Downloads go to a temp file renamed into place on success.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::burst::burst_body;
use super::conversation::Conversation;
use super::part_file::PartFile;
use super::progress::ProgressGate;
use super::read::read_body;
use super::session::{ensure_reset, fresh_session, reset_sessions, terminate};
use super::types::{DirEntry, EntryKind, Listing};
use super::window::{Reply, RetryPolicy, Window, is_nak, request_ok, transact};
use super::write::{close_upload, write_body};
use crate::protocol::{
    FtpPacket, ListingEntry, MAX_DATA, MavCrc32, NakCode, Opcode, nak_to_error, parse_listing,
};
use crate::result::{FtpError, FtpOutcome, FtpResult};

fn file_name(path: &str) -> FtpOutcome<&str> {
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() || name == "." || name == ".." {
        return Err(FtpError::invalid(format!("'{path}' has no file name")));
    }
    Ok(name)
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
        req.session = fresh_session();
        match transact(conv, req, RetryPolicy::standard(&conv.settings()))? {
            Reply::Ack(p) => return Ok((p.session, p.data_u32().unwrap_or(0))),
            Reply::Nak(p) => {
                let retryable =
                    is_nak(&p, NakCode::NoSessionsAvailable) || is_nak(&p, NakCode::Fail);
                if attempt == 0 && retryable {
                    reset_sessions(conv);
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
    ensure_reset(conv);
    let mut part = PartFile::create(local_dir, name)?;
    let (session, size) = open_ro(conv, remote)?;
    let result = if use_burst {
        burst_body(conv, session, size, &mut part, progress)
    } else {
        let mut win = Window::for_data(conv, conv.settings().read_window);
        let read = read_body(conv, &mut win, session, size, &mut part, progress, 0);
        win.save_probe(conv);
        read.map(|_| ())
    };
    match result {
        Ok(()) => {
            terminate(conv, session);
            part.commit(&dest)?;
            let len = std::fs::metadata(&dest).map_or(0, |m| m.len()) as u32;
            progress.finish(len);
            Ok(())
        }
        Err(e) => {
            terminate(conv, session);
            reset_sessions(conv);
            Err(e)
        }
    }
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
    ensure_reset(conv);
    let mut session = 0;
    for attempt in 0..2 {
        let mut req = path_packet(Opcode::CreateFile, &remote);
        req.session = fresh_session();
        match transact(conv, req, RetryPolicy::standard(&conv.settings()))? {
            Reply::Ack(p) => {
                session = p.session;
                break;
            }
            Reply::Nak(p) => {
                if attempt == 0
                    && (is_nak(&p, NakCode::NoSessionsAvailable) || is_nak(&p, NakCode::Fail))
                {
                    reset_sessions(conv);
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
            terminate(conv, session);
            Err(e)
        }
    };
    match result {
        Ok(()) => progress.finish(data.len() as u32),
        Err(_) => reset_sessions(conv),
    }
    result
}

/// List a directory (opcode 16 first, falling back to 3).
pub(crate) fn list(conv: &mut Conversation, dir: &str) -> FtpOutcome<Listing> {
    let mut with_time = conv.memory.list_with_time != Some(false);
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
        let reply = if with_time && conv.memory.list_with_time.is_none() {
            // Probe: a server that ignores the opcode (MAVSDK) must not cost all retries.
            match transact(conv, req, RetryPolicy::probe()) {
                Err(e) if e.result == FtpResult::Timeout => {
                    conv.memory.list_with_time = Some(false);
                    with_time = false;
                    continue;
                }
                other => other?,
            }
        } else {
            transact(conv, req, RetryPolicy::standard(&conv.settings()))?
        };
        match reply {
            Reply::Ack(p) => {
                if with_time {
                    conv.memory.list_with_time = Some(true);
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
                    && conv.memory.list_with_time != Some(true)
                    && (is_nak(&p, NakCode::UnknownCommand) || is_nak(&p, NakCode::Fail))
                {
                    conv.memory.list_with_time = Some(false);
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
    request_ok(conv, path_packet(op, path), &format!("{op:?} {path}")).map(|_| ())
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
    request_ok(conv, req, &format!("rename {from} to {to}")).map(|_| ())
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
    let p = request_ok(
        conv,
        path_packet(Opcode::CalcFileCRC32, remote),
        &format!("CRC32 of {remote}"),
    )?;
    let remote_crc = p
        .data_u32()
        .ok_or_else(|| FtpError::new(FtpResult::ProtocolError, "CRC32 reply without a value"))?;
    Ok(remote_crc == crc.value())
}
