//! Whole directories: a download of a remote directory tree into a local
//! one, or an upload of a local tree into a remote directory.
//!
//! The operation is one queue entry made of units (see `worker`): first a
//! scan (the remote tree listed recursively, or the local one walked and
//! the remote directories created and listed), then one unit per file, run
//! by as many workers as the client's `parallel` setting and the server's
//! sessions allow. Each file unit leaves out a file the other side already
//! has (same size, then the same CRC32 from CalcFileCRC32) when
//! `skip_identical` is set, and otherwise transfers it with the
//! operation's options (burst, resume, verify). A failed file is recorded
//! with its path and the others go on; the operation ends once every unit
//! has. Progress adds up the files (see `progress`).
//!
//! Bounds: directories at most 32 levels below the root, at most 100,000
//! files; remote names come from listings that only hold single path
//! components (see `ops::list`), so every local path stays inside the local
//! root. Uploads take regular files and directories; symbolic links and
//! special files are left out (a link could lead out of the tree or round
//! in circles). Names that are not UTF-8 or hold control characters cannot
//! be uploaded and are reported as failed.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::conversation::Conversation;
use super::glob::glob_match;
use super::ops;
use super::progress::{FileEnd, ProgressGate, ProgressHub};
use super::session;
use super::shared::Control;
use super::single::{download_file, identical, local_join, upload_file};
use super::types::{DirReport, EntryKind, ExCompletion, FailedFile, TransferOptions};
use super::worker::{Job, JobRun, OpTicket, Pool, Units};
use crate::protocol::{Opcode, validate_remote_path};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Deepest directory level below the root that is visited.
const MAX_DEPTH: usize = 32;
/// Most files one directory operation takes.
const MAX_FILES: usize = 100_000;

/// Which way the files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Down,
    Up,
}

/// One file of the operation.
struct Item {
    /// Path relative to the roots, `/`-separated.
    rel: String,
    /// Its size on the sending side.
    size: u64,
    /// Listing mtime (downloads; 0 when unknown).
    mtime: u64,
    /// Size of the receiving side's copy, if it has one (uploads).
    there: Option<u64>,
}

#[derive(Default)]
struct DirState {
    scanned: bool,
    scanning: bool,
    pending: VecDeque<Item>,
    running: usize,
    abandoned: bool,
    finished: bool,
    report: DirReport,
    /// The scan failed: the operation fails with this.
    fatal: Option<FtpError>,
    target: Option<(u8, u8)>,
}

/// A directory operation (a [`Units`] queue entry).
pub(crate) struct DirOp {
    direction: Direction,
    remote_root: String,
    local_root: PathBuf,
    opts: TransferOptions,
    hub: Arc<ProgressHub>,
    ticket: OpTicket,
    control: Arc<Control>,
    pool: Weak<Pool>,
    state: Mutex<DirState>,
    done: Mutex<Option<ExCompletion<DirReport>>>,
    me: Weak<DirOp>,
}

impl DirOp {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        direction: Direction,
        remote_root: String,
        local_root: PathBuf,
        opts: TransferOptions,
        hub: Arc<ProgressHub>,
        ticket: OpTicket,
        control: Arc<Control>,
        pool: Weak<Pool>,
        done: ExCompletion<DirReport>,
    ) -> Arc<DirOp> {
        let remote_root = if remote_root.is_empty() {
            "/".to_string()
        } else {
            remote_root
        };
        Arc::new_cyclic(|me| DirOp {
            direction,
            remote_root,
            local_root,
            opts,
            hub,
            ticket,
            control,
            pool,
            state: Mutex::new(DirState::default()),
            done: Mutex::new(Some(done)),
            me: me.clone(),
        })
    }

    fn remote_path(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.remote_root.clone()
        } else if self.remote_root.ends_with('/') {
            format!("{}{rel}", self.remote_root)
        } else {
            format!("{}/{rel}", self.remote_root)
        }
    }

    fn selected(&self, rel: &str) -> bool {
        self.opts.glob.as_deref().is_none_or(|g| glob_match(g, rel))
    }

    /// A unit job: `work` on a worker (target resolved, a panic caught),
    /// then the unit is counted out.
    fn unit(&self, work: impl FnOnce(&DirOp, &mut Conversation) + Send + 'static) -> Job {
        let me = self.me.upgrade();
        Box::new(move |how| {
            let Some(op) = me else { return };
            if let JobRun::Run(conv) = how {
                let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    work(&op, conv);
                }));
                if let Err(panic) = caught {
                    session::close_abandoned(conv);
                    op.state.lock().fatal.get_or_insert(FtpError::new(
                        FtpResult::Unknown,
                        format!(
                            "internal error: the operation panicked: {}",
                            super::panic_text(&*panic)
                        ),
                    ));
                }
            }
            op.unit_done();
        })
    }

    /// A unit ended: finish the operation when nothing is left.
    fn unit_done(&self) {
        let finished = {
            let mut s = self.state.lock();
            s.running = s.running.saturating_sub(1);
            let nothing_left = s.pending.is_empty() || s.abandoned || s.fatal.is_some();
            let ready = s.scanned || s.abandoned || s.fatal.is_some();
            if ready && nothing_left && s.running == 0 && !s.finished {
                s.finished = true;
                true
            } else {
                false
            }
        };
        if finished {
            self.finish();
        } else if let Some(pool) = self.pool.upgrade() {
            // A session or a worker came free, or the scan queued files.
            pool.units_ready();
        }
    }

    fn finish(&self) {
        let outcome = {
            let mut s = self.state.lock();
            if let Some(e) = s.fatal.take() {
                Err(e)
            } else if self.ticket.cancelled(&self.control) || s.abandoned {
                Err(FtpError::new(FtpResult::Cancelled, "operation cancelled"))
            } else {
                Ok(std::mem::take(&mut s.report))
            }
        };
        match &outcome {
            Err(e) => self.control.set_error(e),
            Ok(r) => {
                if let Err(e) = r.result() {
                    self.control.set_error(&e);
                }
            }
        }
        let last = self.hub.snapshot();
        self.ticket
            .ended
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(done) = self.done.lock().take() {
            let _guard = self.control.callbacks.lock();
            done(outcome, &last);
        }
        if let Some(pool) = self.pool.upgrade() {
            pool.units_ready();
        }
    }

    /// The scan unit: list (or walk) the tree and queue its files.
    fn scan(&self, conv: &mut Conversation) {
        let scanned = conv.begin_operation().and_then(|()| match self.direction {
            Direction::Down => self.scan_remote(conv),
            Direction::Up => self.scan_local(conv),
        });
        let mut s = self.state.lock();
        s.scanned = true;
        s.target = Some(conv.target);
        match scanned {
            Ok((items, failed, dirs_created)) => {
                let all: u64 = items.iter().map(|i| i.size).sum();
                self.hub.plan(items.len() as u32, all);
                s.report.files = items.len() as u32;
                s.report.dirs_created = dirs_created;
                s.report.failed.extend(failed);
                s.pending = items.into();
            }
            Err(e) => s.fatal = Some(e),
        }
    }

    /// List the remote tree: its selected files, and the directories that
    /// could not be listed.
    fn scan_remote(
        &self,
        conv: &mut Conversation,
    ) -> FtpOutcome<(Vec<Item>, Vec<FailedFile>, u32)> {
        let mut items = Vec::new();
        let mut failed = Vec::new();
        let mut dirs: VecDeque<(String, usize)> = VecDeque::from([(String::new(), 0)]);
        while let Some((rel_dir, depth)) = dirs.pop_front() {
            let path = self.remote_path(&rel_dir);
            let listing = match ops::list(conv, &path) {
                Ok(l) => l,
                // The root must be listable; a subdirectory that is not is reported.
                Err(e) if rel_dir.is_empty() || e.result == FtpResult::Cancelled => return Err(e),
                Err(error) => {
                    failed.push(FailedFile {
                        path: format!("{rel_dir}/"),
                        error,
                    });
                    continue;
                }
            };
            for entry in listing.entries {
                let rel = if rel_dir.is_empty() {
                    entry.name.clone()
                } else {
                    format!("{rel_dir}/{}", entry.name)
                };
                match entry.kind {
                    EntryKind::Directory if depth < MAX_DEPTH => dirs.push_back((rel, depth + 1)),
                    EntryKind::Directory => {}
                    EntryKind::File if self.selected(&rel) => {
                        if items.len() >= MAX_FILES {
                            return Err(FtpError::new(
                                FtpResult::FileIoError,
                                format!("{path}: more than {MAX_FILES} files"),
                            ));
                        }
                        items.push(Item {
                            rel,
                            size: entry.size_bytes,
                            mtime: entry.modification_time_s,
                            there: None,
                        });
                    }
                    EntryKind::File => {}
                }
            }
        }
        // The local directories of the selected files.
        let mut created = 0u32;
        let parents: BTreeSet<&str> = items
            .iter()
            .filter_map(|i| i.rel.rsplit_once('/').map(|(d, _)| d))
            .collect();
        for dir in parents {
            let local = local_join(&self.local_root, dir);
            if !local.is_dir() {
                std::fs::create_dir_all(&local)
                    .map_err(|e| FtpError::io(format!("create {}", local.display()), &e))?;
                created += 1;
            }
        }
        Ok((items, failed, created))
    }

    /// Walk the local tree, create the remote directories and learn which
    /// files the server has already.
    fn scan_local(&self, conv: &mut Conversation) -> FtpOutcome<(Vec<Item>, Vec<FailedFile>, u32)> {
        let mut items = Vec::new();
        let mut failed = Vec::new();
        let mut created = 0u32;
        let mut dirs: VecDeque<(String, usize)> = VecDeque::from([(String::new(), 0)]);
        while let Some((rel_dir, depth)) = dirs.pop_front() {
            let local = local_join(&self.local_root, &rel_dir);
            let remote = self.remote_path(&rel_dir);
            if !rel_dir.is_empty() {
                match ops::simple(conv, Opcode::CreateDirectory, &remote) {
                    Ok(()) => created += 1,
                    Err(e) if e.result == FtpResult::FileExists => {}
                    Err(e) if e.result == FtpResult::Cancelled => return Err(e),
                    Err(error) => {
                        failed.push(FailedFile {
                            path: format!("{rel_dir}/"),
                            error,
                        });
                        continue;
                    }
                }
            }
            let there: HashMap<String, u64> = if self.opts.skip_identical {
                match ops::list(conv, &remote) {
                    Ok(l) => l
                        .entries
                        .into_iter()
                        .filter(|e| e.kind == EntryKind::File)
                        .map(|e| (e.name, e.size_bytes))
                        .collect(),
                    Err(e) if e.result == FtpResult::Cancelled => return Err(e),
                    Err(_) => HashMap::new(),
                }
            } else {
                HashMap::new()
            };
            let mut entries: Vec<(String, std::fs::FileType, u64)> = Vec::new();
            let read = std::fs::read_dir(&local)
                .map_err(|e| FtpError::io(format!("read {}", local.display()), &e));
            let read = match read {
                Ok(r) => r,
                Err(e) if rel_dir.is_empty() => return Err(e),
                Err(error) => {
                    failed.push(FailedFile {
                        path: format!("{rel_dir}/"),
                        error,
                    });
                    continue;
                }
            };
            for entry in read.flatten() {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                let name = entry.file_name();
                let Some(name) = name.to_str().filter(|n| !n.chars().any(char::is_control)) else {
                    failed.push(FailedFile {
                        path: format!("{rel_dir}/{}", name.to_string_lossy()),
                        error: FtpError::invalid(
                            "the name is not UTF-8 or holds control characters",
                        ),
                    });
                    continue;
                };
                entries.push((name.to_string(), kind, len));
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, kind, len) in entries {
                let rel = if rel_dir.is_empty() {
                    name.clone()
                } else {
                    format!("{rel_dir}/{name}")
                };
                if kind.is_dir() && depth < MAX_DEPTH {
                    dirs.push_back((rel, depth + 1));
                } else if kind.is_file() && self.selected(&rel) {
                    if items.len() >= MAX_FILES {
                        return Err(FtpError::new(
                            FtpResult::FileIoError,
                            format!("{}: more than {MAX_FILES} files", self.local_root.display()),
                        ));
                    }
                    items.push(Item {
                        there: there.get(&name).copied(),
                        rel,
                        size: len,
                        mtime: 0,
                    });
                }
            }
        }
        Ok((items, failed, created))
    }

    /// One file unit.
    fn transfer(&self, conv: &mut Conversation, item: Item) {
        let slot = self.hub.start_file(&item.rel);
        let mut gate = ProgressGate::hub(&self.hub, slot);
        let outcome = conv
            .begin_operation()
            .and_then(|()| self.transfer_file(conv, &item, &mut gate));
        let how = match &outcome {
            Ok(None) => FileEnd::Skipped,
            Ok(Some(_)) => FileEnd::Done,
            Err(_) => FileEnd::Failed,
        };
        let moved = outcome.as_ref().ok().copied().flatten().unwrap_or(0);
        self.hub.end_file(slot, moved, item.size, how);
        let mut s = self.state.lock();
        match outcome {
            Ok(None) => s.report.skipped += 1,
            Ok(Some(bytes)) => {
                s.report.transferred += 1;
                s.report.bytes += bytes;
            }
            // A cancelled operation ends as a whole (see `finish`).
            Err(e) if e.result == FtpResult::Cancelled => {}
            Err(error) => s.report.failed.push(FailedFile {
                path: item.rel,
                error,
            }),
        }
    }

    /// Transfer one file: None when skipped as identical, else the bytes moved.
    fn transfer_file(
        &self,
        conv: &mut Conversation,
        item: &Item,
        gate: &mut ProgressGate,
    ) -> FtpOutcome<Option<u64>> {
        let remote = self.remote_path(&item.rel);
        let local = local_join(&self.local_root, &item.rel);
        match self.direction {
            Direction::Down => {
                validate_remote_path(&remote)?;
                if self.opts.skip_identical && identical(conv, &local, &remote, item.size)? {
                    return Ok(None);
                }
                let dir = local.parent().unwrap_or(&self.local_root).to_path_buf();
                let r = download_file(conv, &remote, &dir, &self.opts, gate, Some(item.mtime))?;
                Ok(Some(r.bytes))
            }
            Direction::Up => {
                let remote_dir = parent_of(&remote);
                validate_remote_path(&remote)?;
                if self.opts.skip_identical
                    && item.there == Some(item.size)
                    && identical(conv, &local, &remote, item.size)?
                {
                    return Ok(None);
                }
                let r = upload_file(conv, &local, &remote_dir, &self.opts, gate)?;
                Ok(Some(r.bytes))
            }
        }
    }
}

/// The directory part of a remote path.
fn parent_of(remote: &str) -> String {
    match remote.rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((dir, _)) => dir.to_string(),
        None => ".".to_string(),
    }
}

impl Units for DirOp {
    fn take(&self) -> Option<Job> {
        let mut s = self.state.lock();
        if s.abandoned || s.finished || s.fatal.is_some() {
            return None;
        }
        if !s.scanned {
            if s.scanning {
                return None;
            }
            s.scanning = true;
            s.running += 1;
            drop(s);
            return Some(self.unit(|op, conv| op.scan(conv)));
        }
        // No file waits in a worker for a session the server would not give.
        if s.running > 0
            && let Some(target) = s.target
            && !self.control.sessions.has_room(target)
        {
            return None;
        }
        let item = s.pending.pop_front()?;
        s.running += 1;
        drop(s);
        Some(self.unit(move |op, conv| op.transfer(conv, item)))
    }

    fn running(&self) -> usize {
        self.state.lock().running
    }

    fn exhausted(&self) -> bool {
        let s = self.state.lock();
        s.finished || s.abandoned || s.fatal.is_some() || (s.scanned && s.pending.is_empty())
    }

    fn abandon(&self) -> Job {
        {
            let mut s = self.state.lock();
            s.abandoned = true;
            s.pending.clear();
            // Counted like a unit, so that the last one to end finishes.
            s.running += 1;
        }
        let me = self.me.upgrade();
        Box::new(move |_how| {
            if let Some(op) = me {
                op.unit_done();
            }
        })
    }
}
