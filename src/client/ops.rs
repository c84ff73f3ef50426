//! One function per operation kind, each run on the worker with the
//! conversation. Downloads go to a temp file renamed into place on success.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::burst::burst_body;
use super::conversation::{Conversation, Halt};
use super::fetch::{Fetch, MAX_FILE_LEN};
use super::part_file::PartFile;
use super::progress::ProgressGate;
use super::session::{
    BusyWait, close, close_quietly, is_busy, open, request_ok_when_free, transact_when_free,
};
use super::sink::DownloadSink;
use super::trace::trace;
use super::types::{DirEntry, EntryKind, Listing};
use super::window::{Reply, RetryPolicy, is_nak, transact};
use super::write::{Closed, close_upload, write_body};
use crate::protocol::{
    FtpPacket, ListingEntry, MAX_DATA, MavCrc32, NakCode, Opcode, nak_to_error, parse_listing,
};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Most entries (placeholders included) a listing may have: a server whose
/// listing never ends cannot grow the client without bound.
pub(crate) const MAX_LISTING_ENTRIES: u32 = 100_000;

pub(crate) fn file_name(path: &str) -> FtpOutcome<&str> {
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() || name == "." || name == ".." {
        return Err(FtpError::invalid(format!("'{path}' has no file name")));
    }
    Ok(name)
}

/// A local directory given to a download: it must exist (else FILE_IO_ERROR).
pub(crate) fn existing_dir(dir: &Path) -> FtpOutcome<()> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(FtpError::new(
        FtpResult::FileIoError,
        format!("local directory {} does not exist", dir.display()),
    ))
}

/// A local file given to an upload: it must exist (else FILE_DOES_NOT_EXIST).
pub(crate) fn existing_file(file: &Path) -> FtpOutcome<()> {
    if file.is_file() {
        return Ok(());
    }
    Err(FtpError::new(
        FtpResult::FileDoesNotExist,
        format!("local file {} does not exist", file.display()),
    ))
}

pub(crate) fn path_packet(op: Opcode, path: &str) -> FtpPacket {
    let mut p = FtpPacket::request(op, 0);
    p.data = path.as_bytes().to_vec();
    p
}

/// Download `remote` into `local_dir` (the MAVSDK-shaped download): a
/// hidden part file renamed into place on success and deleted otherwise.
pub(crate) fn download(
    conv: &mut Conversation,
    remote: &str,
    local_dir: &Path,
    use_burst: bool,
    progress: &mut ProgressGate,
) -> FtpOutcome<()> {
    let name = file_name(remote)?;
    let dest = local_dir.join(name);
    let mut part = PartFile::create(local_dir, name)?;
    let fetched = fetch_file(conv, remote, &mut part, use_burst, progress)?;
    part.commit(&dest)?;
    // An extended download's resume state for this file is stale now.
    super::resume::forget(local_dir, name);
    progress.finish(fetched.len);
    Ok(())
}

/// What [`fetch_file`] did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fetched {
    /// Length of the file.
    pub len: u64,
    /// Bytes that were in the sink already (a resumed download).
    pub start: u64,
}

/// Download `remote` into `sink`. The sink is told the size OpenFileRO
/// announced ([`DownloadSink::begin`]) and says how many bytes from the
/// start it holds already (a resumed download goes on from there).
///
/// A session lost mid-transfer (closed by the server, or taken over by
/// another client) is re-opened and the download goes on from the bytes
/// received so far, after a wait (the other client may be in the middle of
/// its own transfer) within timeout × retries; such a download is then
/// verified with CalcFileCRC32 before it is reported complete, as is a
/// burst download that read holes while a stalled burst of an unproven
/// server may still have streamed ([`Fetch::verify`]).
pub(crate) fn fetch_file(
    conv: &mut Conversation,
    remote: &str,
    sink: &mut dyn DownloadSink,
    use_burst: bool,
    progress: &mut ProgressGate,
) -> FtpOutcome<Fetched> {
    let first = open(conv, Opcode::OpenFileRO, remote)?;
    let announced = u64::from(first.size);
    let from = match sink.begin(announced) {
        Ok(n) => n,
        Err(e) => {
            close_quietly(conv, &first);
            return Err(e);
        }
    };
    let mut fetch = Fetch::new(conv, sink, progress, remote, &first);
    fetch.start_at(from);
    let mut held = Some(first);
    let mut losses = 0u32;
    let mut lost_wait = BusyWait::new(format!("re-open {remote}"));
    // Where the last loss happened: a loss after progress gets a fresh
    // budget (a long download on a slow link may lose PX4's idle session
    // now and then).
    let mut lost_at: Option<u64> = None;
    let result = loop {
        let step = if use_burst {
            burst_body(&mut fetch)
        } else {
            let step = fetch.read_until_end().map(|_| ());
            fetch.reads.save_probe(fetch.conv);
            step
        };
        match step {
            Ok(()) => break Ok(()),
            Err(Halt::Failed(e)) => break Err(e),
            Err(Halt::SessionLost(why)) => {
                losses += 1;
                trace!("download {remote}: session lost ({why}); re-opening");
                // Not ours any more: never terminated.
                held = None;
                fetch.conv.watch_session(None);
                fetch.lose_session();
                let have = fetch.frontier.saturating_sub(fetch.missing());
                if lost_at.is_some_and(|at| have > at) {
                    lost_wait = BusyWait::new(format!("re-open {remote}"));
                }
                lost_at = Some(have);
                if let Err(e) = lost_wait.wait(fetch.conv, &why, false) {
                    break Err(FtpError::new(
                        FtpResult::Busy,
                        format!(
                            "download {remote}: session lost {losses} times ({})",
                            e.message
                        ),
                    ));
                }
                match open(fetch.conv, Opcode::OpenFileRO, remote) {
                    Ok(s) => {
                        fetch.reopened(&s);
                        held = Some(s);
                    }
                    Err(e) => break Err(e),
                }
            }
        }
    };
    let len = fetch.eof.unwrap_or(fetch.frontier).min(fetch.frontier);
    let verify = fetch.verify;
    drop(fetch);
    let session = held.take();
    if let Err(e) = result {
        if let Some(s) = &session {
            close_quietly(conv, s);
        }
        return Err(e);
    }
    // A download that lost its session, or read holes while an unproven
    // server's burst may have streamed, is compared with the server's CRC
    // while the session is still open (CalcFileCRC32 needs none).
    let checked = (losses > 0 || verify).then(|| crc_pair(conv, sink, remote));
    if let Some(s) = session {
        // The data is complete (and checked): the close is worth its
        // retries, but its answer changes nothing (PX4 may have closed an
        // idle session), so the result is reported first, as MAVSDK does.
        let policy = RetryPolicy {
            cancellable: false,
            ..RetryPolicy::standard(&conv.settings())
        };
        conv.defer(Box::new(move |conv| {
            let _ = close(conv, &s, policy);
        }));
    }
    if let Some(checked) = checked {
        let (local, server) = checked?;
        if local != server {
            let why = if losses > 0 {
                "the session was lost during the transfer"
            } else {
                "holes were read while the server's burst may still have streamed (MAVSDK \
                 2.x-3.x bursts read where its last ReadFile left off)"
            };
            return Err(FtpError::new(
                FtpResult::FileIoError,
                format!(
                    "download {remote}: {why} and the bytes received do not match the \
                     server's file (CRC32 {local:08x}, server {server:08x})"
                ),
            ));
        }
    }
    Ok(Fetched {
        len: len.min(MAX_FILE_LEN),
        start: from,
    })
}

/// The MAVLink CRC32 of the downloaded bytes and the server's for `remote`.
pub(crate) fn crc_pair(
    conv: &mut Conversation,
    sink: &mut dyn DownloadSink,
    remote: &str,
) -> FtpOutcome<(u32, u32)> {
    let local = sink.crc()?;
    let server = remote_crc(conv, remote)?;
    trace!("verify {remote}: local CRC {local:08x}, server {server:08x}");
    Ok((local, server))
}

/// The server's CalcFileCRC32 of `remote`.
pub(crate) fn remote_crc(conv: &mut Conversation, remote: &str) -> FtpOutcome<u32> {
    let p = request_ok_when_free(
        conv,
        path_packet(Opcode::CalcFileCRC32, remote),
        &format!("CRC32 of {remote}"),
    )?;
    crc_of(&p)
}

fn crc_of(p: &FtpPacket) -> FtpOutcome<u32> {
    p.data_u32()
        .ok_or_else(|| FtpError::new(FtpResult::ProtocolError, "CRC32 reply without a value"))
}

/// Upload `local` into `remote_dir`, read from disk as it is sent.
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
    let file =
        File::open(local).map_err(|e| FtpError::io(format!("open {}", local.display()), &e))?;
    let len = file
        .metadata()
        .map_err(|e| FtpError::io(format!("stat {}", local.display()), &e))?
        .len();
    if len > MAX_FILE_LEN {
        return Err(FtpError::new(
            FtpResult::FileIoError,
            format!(
                "{} is {len} bytes: MAVLink FTP offsets are 32-bit, files up to 4 GiB - 1 \
                 byte can be transferred",
                local.display()
            ),
        ));
    }
    let len = len as u32;
    let session = open(conv, Opcode::CreateFile, &remote)?;
    let mut source = BufReader::with_capacity(64 * 1024, file);
    let result = match write_body(conv, &session, &mut source, len, &remote, progress) {
        // The data is final only once the close is acknowledged (MAVSDK's
        // server buffers writes until TerminateSession).
        Ok(()) => match close_upload(conv, &session, &remote)? {
            Closed::Acked => Ok(()),
            Closed::NakAfterResend(nak) => settle_close(conv, local, &remote, &nak),
        },
        Err(e) => {
            if conv.session_taken().is_none() {
                close_quietly(conv, &session);
            }
            Err(e)
        }
    };
    if result.is_ok() {
        progress.finish(u64::from(len));
    }
    result
}

/// A NAK to a resent close (see [`Closed::NakAfterResend`]): the upload
/// succeeded only if the server's file has the local file's CRC32.
fn settle_close(
    conv: &mut Conversation,
    local: &Path,
    remote: &str,
    nak: &FtpPacket,
) -> FtpOutcome<()> {
    trace!("close {remote}: NAK to a resent close; the CRC decides");
    let code = nak.nak_code();
    match crc_compare(conv, local, remote) {
        Ok(true) => Ok(()),
        Ok(false) => Err(FtpError::new(
            FtpResult::FileIoError,
            format!(
                "close {remote}: answered NAK {code:?} (to a resent close) and the server's \
                 file differs from the local one (CRC32)"
            ),
        )),
        Err(e) => Err(FtpError::new(
            e.result,
            format!(
                "close {remote}: answered NAK {code:?} (to a resent close), and the CRC check \
                 that would tell a lost ACK from a failed close failed: {}",
                e.message
            ),
        )),
    }
}

/// Whether a listed name can be handed to the application: a single path
/// component of printable characters.
fn acceptable_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// List a directory (opcode 16 first, falling back to 3). Entries whose
/// name is empty, `.`/`..`, contains `/` or a control character, or whose
/// size field is malformed, are left out; a listing longer than
/// [`MAX_LISTING_ENTRIES`] is PROTOCOL_ERROR.
pub(crate) fn list(conv: &mut Conversation, dir: &str) -> FtpOutcome<Listing> {
    let mut with_time = conv.memory.list_with_time != Some(false);
    let mut entries: Vec<DirEntry> = Vec::new();
    let mut offset = 0u32;
    let mut busy = BusyWait::new(format!("list {dir}"));
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
                Ok(Reply::Nak(p)) if is_busy(&p) => {
                    let quiet = is_nak(&p, NakCode::InvalidSession);
                    busy.wait(conv, "NAK to the listing", quiet)?;
                    continue;
                }
                other => other?,
            }
        } else {
            transact_when_free(conv, req, &format!("list {dir}"))?
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
                    let entry = match e {
                        ListingEntry::File { name, size, mtime } => DirEntry {
                            name,
                            kind: EntryKind::File,
                            size_bytes: size,
                            modification_time_s: mtime.unwrap_or(0),
                        },
                        ListingEntry::Directory { name, mtime } => DirEntry {
                            name,
                            kind: EntryKind::Directory,
                            size_bytes: 0,
                            modification_time_s: mtime.unwrap_or(0),
                        },
                        ListingEntry::Skip => continue,
                    };
                    if acceptable_name(&entry.name) {
                        entries.push(entry);
                    } else if entry.name != "." && entry.name != ".." {
                        trace!("list {dir}: entry {:?} left out", entry.name);
                    }
                }
                if counted == 0 {
                    break;
                }
                offset = offset.saturating_add(counted);
                if offset > MAX_LISTING_ENTRIES {
                    return Err(FtpError::new(
                        FtpResult::ProtocolError,
                        format!(
                            "list {dir}: the server listed more than {MAX_LISTING_ENTRIES} \
                             entries"
                        ),
                    ));
                }
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
    request_ok_when_free(conv, path_packet(op, path), &format!("{op:?} {path}")).map(|_| ())
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
    request_ok_when_free(conv, req, &format!("rename {from} to {to}")).map(|_| ())
}

/// CRC comparison.
pub(crate) fn crc_compare(conv: &mut Conversation, local: &Path, remote: &str) -> FtpOutcome<bool> {
    let crc = local_crc(local)?;
    Ok(remote_crc(conv, remote)? == crc)
}

/// The MAVLink CRC32 of a local file.
pub(crate) fn local_crc(local: &Path) -> FtpOutcome<u32> {
    let mut crc = MavCrc32::new();
    let mut f =
        File::open(local).map_err(|e| FtpError::io(format!("open {}", local.display()), &e))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| FtpError::io(format!("read {}", local.display()), &e))?;
        if n == 0 {
            return Ok(crc.value());
        }
        crc.update(&buf[..n]);
    }
}
