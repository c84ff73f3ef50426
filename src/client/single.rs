//! One file's extended transfer, used by the single-file calls and by each
//! file of a directory operation (`tree`): to a file (with resume), into
//! memory, streamed in order, or an upload; verified by CRC32 when asked.
//!
//! - **Resume** (downloads to a file, on unless `resume` is false): see
//!   `resume`. A download with resume off writes a private part file that
//!   a failure deletes, as the MAVSDK-shaped download does (which never
//!   resumes). `@` virtual paths (ArduPilot) are never resumed: their size
//!   is fake.
//! - **Verify**: after the transfer the MAVLink CRC32 of both ends is
//!   compared (CalcFileCRC32); on a mismatch the file is transferred again
//!   once from the start, then the result is FILE_IO_ERROR with both CRCs
//!   in the message. A streamed download cannot take back what it handed
//!   over: a mismatch there is FILE_IO_ERROR at once. A resumed download is
//!   always compared (its bytes come from two sessions) unless the server
//!   does not implement CalcFileCRC32 (UNSUPPORTED): then size and mtime
//!   are all there is.
//! - **Memory**: the same transfer engine as to a file (holes, re-opened
//!   sessions), into a buffer or handed to a callback in file order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::conversation::Conversation;
use super::ops::{self, crc_pair, fetch_file, file_name, local_crc, remote_crc};
use super::part_file::PartFile;
use super::progress::ProgressGate;
use super::resume::ResumableFile;
use super::sink::{MemorySink, StreamSink};
use super::trace::trace;
use super::types::{ChunkFn, EntryKind, TransferOptions, TransferReport};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// A CRC mismatch after the second try.
fn mismatch(what: &str, local: u32, server: u32) -> FtpError {
    FtpError::new(
        FtpResult::FileIoError,
        format!(
            "{what}: the bytes do not match the server's file twice in a row (CRC32 here \
             {local:08x}, server {server:08x})"
        ),
    )
}

/// The listing mtime of `remote` (0 when the server gives none or the
/// listing fails; a cancel still ends the operation).
fn listed_mtime(conv: &mut Conversation, remote: &str) -> FtpOutcome<u64> {
    if conv.memory.list_with_time == Some(false) {
        return Ok(0);
    }
    let (dir, name) = match remote.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => (".", remote),
    };
    match ops::list(conv, dir) {
        Ok(listing) => Ok(listing
            .entries
            .iter()
            .find(|e| e.name == name && e.kind == EntryKind::File)
            .map_or(0, |e| e.modification_time_s)),
        Err(e) if e.result == FtpResult::Cancelled => Err(e),
        Err(_) => Ok(0),
    }
}

/// Download `remote` into `local_dir` with `opts`; `mtime` is the listing
/// mtime when the caller knows it (a directory download).
pub(crate) fn download_file(
    conv: &mut Conversation,
    remote: &str,
    local_dir: &Path,
    opts: &TransferOptions,
    gate: &mut ProgressGate,
    mtime: Option<u64>,
) -> FtpOutcome<TransferReport> {
    let name = file_name(remote)?;
    let dest = local_dir.join(name);
    let resumable = opts.resume && !remote.starts_with('@');
    if resumable && let Some(mut part) = ResumableFile::open(local_dir, name, remote)? {
        let mtime = match mtime {
            Some(m) => m,
            None => listed_mtime(conv, remote)?,
        };
        part.set_mtime(mtime);
        let mut repeated = false;
        loop {
            let fetched = fetch_file(conv, remote, &mut part, opts.use_burst, gate)?;
            let mut verified = false;
            if opts.verify || fetched.start > 0 {
                match crc_pair(conv, &mut part, remote) {
                    Ok((l, s)) if l == s => verified = true,
                    Ok((l, s)) if repeated => {
                        part.discard();
                        return Err(mismatch(&format!("download {remote}"), l, s));
                    }
                    Ok((l, s)) => {
                        trace!("download {remote}: CRC {l:08x} != {s:08x}: again from 0");
                        repeated = true;
                        part.restart()?;
                        continue;
                    }
                    // Without CalcFileCRC32 a resumed download has only size and mtime.
                    Err(e) if e.result == FtpResult::Unsupported && !opts.verify => {}
                    Err(e) => return Err(e),
                }
            }
            part.commit(&dest)?;
            gate.finish(fetched.len);
            return Ok(TransferReport {
                bytes: fetched.len,
                resumed_from: fetched.start,
                verified,
                repeated,
            });
        }
    }
    let mut repeated = false;
    loop {
        let mut part = PartFile::create(local_dir, name)?;
        let fetched = fetch_file(conv, remote, &mut part, opts.use_burst, gate)?;
        let mut verified = false;
        if opts.verify {
            let (l, s) = crc_pair(conv, &mut part, remote)?;
            if l != s {
                if repeated {
                    return Err(mismatch(&format!("download {remote}"), l, s));
                }
                trace!("download {remote}: CRC {l:08x} != {s:08x}: again");
                repeated = true;
                continue;
            }
            verified = true;
        }
        part.commit(&dest)?;
        // Another download's resume state for this file is stale now.
        super::resume::forget(local_dir, name);
        gate.finish(fetched.len);
        return Ok(TransferReport {
            bytes: fetched.len,
            resumed_from: 0,
            verified,
            repeated,
        });
    }
}

/// Download `remote` into memory.
pub(crate) fn download_memory(
    conv: &mut Conversation,
    remote: &str,
    opts: &TransferOptions,
    gate: &mut ProgressGate,
) -> FtpOutcome<Vec<u8>> {
    let mut repeated = false;
    loop {
        let mut sink = MemorySink::default();
        let fetched = fetch_file(conv, remote, &mut sink, opts.use_burst, gate)?;
        if opts.verify {
            let (l, s) = crc_pair(conv, &mut sink, remote)?;
            if l != s {
                if repeated {
                    return Err(mismatch(&format!("download {remote}"), l, s));
                }
                repeated = true;
                continue;
            }
        }
        gate.finish(fetched.len);
        return Ok(sink.data);
    }
}

/// Download `remote` handed to `chunk` in order.
pub(crate) fn download_stream(
    conv: &mut Conversation,
    remote: &str,
    opts: &TransferOptions,
    chunk: ChunkFn,
    gate: &mut ProgressGate,
) -> FtpOutcome<TransferReport> {
    let control = Arc::clone(&conv.control);
    let mut sink = StreamSink::new(chunk, &control);
    let fetched = fetch_file(conv, remote, &mut sink, opts.use_burst, gate)?;
    let mut verified = false;
    if opts.verify {
        let (l, s) = crc_pair(conv, &mut sink, remote)?;
        if l != s {
            return Err(FtpError::new(
                FtpResult::FileIoError,
                format!(
                    "download {remote}: the {} bytes handed over do not match the server's \
                     file (CRC32 {l:08x}, server {s:08x})",
                    sink.delivered()
                ),
            ));
        }
        verified = true;
    }
    gate.finish(fetched.len);
    Ok(TransferReport {
        bytes: fetched.len,
        resumed_from: 0,
        verified,
        repeated: false,
    })
}

/// Upload `local` into `remote_dir` with `opts` (verify: compare and send
/// once more on a mismatch).
pub(crate) fn upload_file(
    conv: &mut Conversation,
    local: &Path,
    remote_dir: &str,
    opts: &TransferOptions,
    gate: &mut ProgressGate,
) -> FtpOutcome<TransferReport> {
    let name = local
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| FtpError::invalid(format!("{} has no UTF-8 file name", local.display())))?
        .to_string();
    let remote = if remote_dir.ends_with('/') {
        format!("{remote_dir}{name}")
    } else {
        format!("{remote_dir}/{name}")
    };
    let mut repeated = false;
    loop {
        ops::upload(conv, local, remote_dir, gate)?;
        let bytes = std::fs::metadata(local).map(|m| m.len()).unwrap_or(0);
        if !opts.verify {
            return Ok(TransferReport {
                bytes,
                ..TransferReport::default()
            });
        }
        let l = local_crc(local)?;
        let s = remote_crc(conv, &remote)?;
        if l == s {
            return Ok(TransferReport {
                bytes,
                resumed_from: 0,
                verified: true,
                repeated,
            });
        }
        if repeated {
            return Err(mismatch(&format!("upload {remote}"), l, s));
        }
        trace!("upload {remote}: CRC {l:08x} != {s:08x}: again");
        repeated = true;
    }
}

/// `dir/rel` for a relative path with `/` separators.
pub(crate) fn local_join(dir: &Path, rel: &str) -> PathBuf {
    rel.split('/').fold(dir.to_path_buf(), |p, c| p.join(c))
}

/// Whether a local file has `size` bytes and the server's CRC32 of `remote`.
pub(crate) fn identical(
    conv: &mut Conversation,
    local: &Path,
    remote: &str,
    size: u64,
) -> FtpOutcome<bool> {
    match std::fs::metadata(local) {
        Ok(m) if m.is_file() && m.len() == size => {}
        _ => return Ok(false),
    }
    let l = local_crc(local)?;
    Ok(remote_crc(conv, remote)? == l)
}
