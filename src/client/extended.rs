//! The extended transfers, beside the MAVSDK-shaped calls: options
//! ([`TransferOptions`]), an operation id for per-operation cancel,
//! 64-bit progress with rate and time left, resume, verified transfers,
//! whole directories (see `tree`), downloads into memory or streamed to a
//! callback, and several operations of one client at once (`parallel`).
//! This file is the API and the queueing; one file's transfer (resume,
//! verify, memory, stream) is `single`.

use std::path::Path;
use std::sync::Arc;

use super::Client;
use super::conversation::Conversation;
use super::ops::{existing_dir, existing_file, file_name};
use super::progress::{FileEnd, ProgressGate, ProgressHub};
use super::single::{download_file, download_memory, download_stream, upload_file};
use super::tree::{self, DirOp};
use super::types::{
    ChunkFn, DirReport, ExCompletion, TransferOptions, TransferProgress, TransferProgressFn,
    TransferReport,
};
use crate::protocol::validate_remote_path;
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Most operations one client runs at once ([`Client::set_parallel`]).
pub const MAX_PARALLEL: usize = 16;

/// The final outcome of a single-file operation reported to the hub.
fn end_single<T>(hub: &ProgressHub, slot: usize, outcome: &FtpOutcome<T>, bytes: u64) {
    let how = if outcome.is_ok() {
        FileEnd::Done
    } else {
        FileEnd::Failed
    };
    hub.end_file(slot, bytes, 0, how);
}

impl Client {
    /// Run up to `n` operations of this client at once (1 to
    /// [`MAX_PARALLEL`]; default 1: one at a time, in submission order).
    /// Each runs on its own worker thread and, for a transfer, its own
    /// server session. A server that takes fewer sessions (PX4 and MAVSDK's
    /// take one; ours four per client) makes the transfers wait for a
    /// session in turn: never a failure. Listings, commands and CRCs need no
    /// session. With `n` ≥ 2 an operation is not stuck behind a long one.
    /// Applies to operations started afterwards.
    pub fn set_parallel(&self, n: usize) {
        if let Ok(mut s) = self.control.settings.lock() {
            s.parallel = n.clamp(1, MAX_PARALLEL);
        }
    }

    /// Cancel one operation by the id an extended call returned: queued, it
    /// ends with CANCELLED at once (its completion runs on a library
    /// thread); running, at its next step. False when no operation with this
    /// id is queued or running (it ended already).
    pub fn cancel_op(&self, op_id: u64) -> bool {
        op_id != 0 && self.pool.cancel_op(op_id)
    }

    /// Queue a single-file extended operation; returns its id.
    fn submit_single<T: Send + 'static>(
        &self,
        name: String,
        progress: Option<TransferProgressFn>,
        done: ExCompletion<T>,
        run: impl FnOnce(&mut Conversation, &mut ProgressGate) -> FtpOutcome<(T, u64)> + Send + 'static,
    ) -> FtpOutcome<u64> {
        let ticket = self.pool.ticket();
        let id = ticket.id;
        let hub = ProgressHub::new(id, &self.control, progress, 1);
        let worker_hub = Arc::clone(&hub);
        let job = self.job(
            &ticket,
            move |conv| {
                let slot = worker_hub.start_file(&name);
                let mut gate = ProgressGate::hub(&worker_hub, slot);
                let outcome = run(conv, &mut gate);
                let bytes = outcome.as_ref().map_or(0, |(_, b)| *b);
                end_single(&worker_hub, slot, &outcome, bytes);
                outcome.map(|(v, _)| v)
            },
            done,
            Some(hub),
        );
        self.queue(ticket, job)?;
        Ok(id)
    }

    /// Download `remote_file_path` into the existing `local_dir` (same name)
    /// with `options` (burst, resume, verify); returns the operation's id.
    /// `progress` gets [`TransferProgress`] at most 10 times per second;
    /// `done` runs exactly once (if this returns Ok) with the outcome and the
    /// last progress.
    pub fn download_ex_async(
        &self,
        remote_file_path: &str,
        local_dir: &Path,
        options: &TransferOptions,
        progress: Option<TransferProgressFn>,
        done: ExCompletion<TransferReport>,
    ) -> FtpOutcome<u64> {
        validate_remote_path(remote_file_path)?;
        file_name(remote_file_path)?;
        existing_dir(local_dir)?;
        let remote = remote_file_path.to_string();
        let dir = local_dir.to_path_buf();
        let opts = options.clone();
        self.submit_single(remote.clone(), progress, done, move |conv, gate| {
            download_file(conv, &remote, &dir, &opts, gate, None).map(|r| (r, r.bytes))
        })
    }

    /// Upload `local_file_path` into `remote_dir` (same name) with `options`
    /// (verify); returns the operation's id (see [`Client::download_ex_async`]).
    pub fn upload_ex_async(
        &self,
        local_file_path: &Path,
        remote_dir: &str,
        options: &TransferOptions,
        progress: Option<TransferProgressFn>,
        done: ExCompletion<TransferReport>,
    ) -> FtpOutcome<u64> {
        validate_remote_path(remote_dir)?;
        existing_file(local_file_path)?;
        let local = local_file_path.to_path_buf();
        let dir = remote_dir.to_string();
        let opts = options.clone();
        let name = local.display().to_string();
        self.submit_single(name, progress, done, move |conv, gate| {
            upload_file(conv, &local, &dir, &opts, gate).map(|r| (r, r.bytes))
        })
    }

    /// Download `remote_file_path` into memory (for `@PARAM/param.pck`,
    /// `@SYS/*.txt`, mission files); `options.use_burst` and `verify` apply.
    pub fn download_to_memory_async(
        &self,
        remote_file_path: &str,
        options: &TransferOptions,
        progress: Option<TransferProgressFn>,
        done: ExCompletion<Vec<u8>>,
    ) -> FtpOutcome<u64> {
        validate_remote_path(remote_file_path)?;
        let remote = remote_file_path.to_string();
        let opts = options.clone();
        self.submit_single(remote.clone(), progress, done, move |conv, gate| {
            download_memory(conv, &remote, &opts, gate).map(|d| {
                let n = d.len() as u64;
                (d, n)
            })
        })
    }

    /// Download `remote_file_path` handing each contiguous piece to `chunk`
    /// in file order (bytes that arrive ahead of a gap are held until the
    /// gap is filled); `chunk` returning false stops the download
    /// (CANCELLED). With `verify` a CRC mismatch is FILE_IO_ERROR (what was
    /// handed over cannot be taken back).
    pub fn download_stream_async(
        &self,
        remote_file_path: &str,
        options: &TransferOptions,
        chunk: ChunkFn,
        progress: Option<TransferProgressFn>,
        done: ExCompletion<TransferReport>,
    ) -> FtpOutcome<u64> {
        validate_remote_path(remote_file_path)?;
        let remote = remote_file_path.to_string();
        let opts = options.clone();
        self.submit_single(remote.clone(), progress, done, move |conv, gate| {
            download_stream(conv, &remote, &opts, chunk, gate).map(|r| (r, r.bytes))
        })
    }

    /// Download the remote directory `remote_dir` recursively into the
    /// existing `local_dir` (subdirectories created as needed), files
    /// filtered by `options.glob`, identical files skipped unless
    /// `options.skip_identical` is false; every file with `options` (burst,
    /// resume, verify). Up to [`Client::set_parallel`] files at once. A
    /// failed file does not stop the others: the [`DirReport`] lists it.
    /// Returns the operation's id.
    pub fn download_dir_async(
        &self,
        remote_dir: &str,
        local_dir: &Path,
        options: &TransferOptions,
        progress: Option<TransferProgressFn>,
        done: ExCompletion<DirReport>,
    ) -> FtpOutcome<u64> {
        validate_remote_path(remote_dir)?;
        existing_dir(local_dir)?;
        self.submit_dir(
            tree::Direction::Down,
            remote_dir,
            local_dir,
            options,
            progress,
            done,
        )
    }

    /// Upload the local directory `local_dir` recursively into `remote_dir`
    /// (which must exist; subdirectories are created), like
    /// [`Client::download_dir_async`] the other way.
    pub fn upload_dir_async(
        &self,
        local_dir: &Path,
        remote_dir: &str,
        options: &TransferOptions,
        progress: Option<TransferProgressFn>,
        done: ExCompletion<DirReport>,
    ) -> FtpOutcome<u64> {
        validate_remote_path(remote_dir)?;
        if !local_dir.is_dir() {
            return Err(FtpError::new(
                FtpResult::FileDoesNotExist,
                format!("local directory {} does not exist", local_dir.display()),
            ));
        }
        self.submit_dir(
            tree::Direction::Up,
            remote_dir,
            local_dir,
            options,
            progress,
            done,
        )
    }

    fn submit_dir(
        &self,
        direction: tree::Direction,
        remote_dir: &str,
        local_dir: &Path,
        options: &TransferOptions,
        progress: Option<TransferProgressFn>,
        done: ExCompletion<DirReport>,
    ) -> FtpOutcome<u64> {
        if self.link.is_closed() {
            return Err(FtpError::new(
                FtpResult::Cancelled,
                "client is shutting down",
            ));
        }
        let ticket = self.pool.ticket();
        let id = ticket.id;
        let hub = ProgressHub::new(id, &self.control, progress, 0);
        let op = DirOp::new(
            direction,
            remote_dir.trim_end_matches('/').to_string(),
            local_dir.to_path_buf(),
            options.clone(),
            hub,
            ticket.clone(),
            Arc::clone(&self.control),
            Arc::downgrade(&self.pool),
            done,
        );
        self.pool.push_units(ticket, op)?;
        Ok(id)
    }

    /// Blocking form of [`Client::download_ex_async`] (BUSY from one of this
    /// client's own callbacks).
    pub fn download_ex(
        &self,
        remote_file_path: &str,
        local_dir: &Path,
        options: &TransferOptions,
        progress: Option<TransferProgressFn>,
    ) -> FtpOutcome<TransferReport> {
        self.wait_ex(|d| self.download_ex_async(remote_file_path, local_dir, options, progress, d))
    }

    /// Blocking form of [`Client::upload_ex_async`].
    pub fn upload_ex(
        &self,
        local_file_path: &Path,
        remote_dir: &str,
        options: &TransferOptions,
        progress: Option<TransferProgressFn>,
    ) -> FtpOutcome<TransferReport> {
        self.wait_ex(|d| self.upload_ex_async(local_file_path, remote_dir, options, progress, d))
    }

    /// Blocking form of [`Client::download_to_memory_async`].
    pub fn download_to_memory(
        &self,
        remote_file_path: &str,
        options: &TransferOptions,
    ) -> FtpOutcome<Vec<u8>> {
        self.wait_ex(|d| self.download_to_memory_async(remote_file_path, options, None, d))
    }

    /// Blocking form of [`Client::download_stream_async`].
    pub fn download_stream(
        &self,
        remote_file_path: &str,
        options: &TransferOptions,
        chunk: ChunkFn,
    ) -> FtpOutcome<TransferReport> {
        self.wait_ex(|d| self.download_stream_async(remote_file_path, options, chunk, None, d))
    }

    /// Blocking form of [`Client::download_dir_async`].
    pub fn download_dir(
        &self,
        remote_dir: &str,
        local_dir: &Path,
        options: &TransferOptions,
        progress: Option<TransferProgressFn>,
    ) -> FtpOutcome<DirReport> {
        self.wait_ex(|d| self.download_dir_async(remote_dir, local_dir, options, progress, d))
    }

    /// Blocking form of [`Client::upload_dir_async`].
    pub fn upload_dir(
        &self,
        local_dir: &Path,
        remote_dir: &str,
        options: &TransferOptions,
        progress: Option<TransferProgressFn>,
    ) -> FtpOutcome<DirReport> {
        self.wait_ex(|d| self.upload_dir_async(local_dir, remote_dir, options, progress, d))
    }

    /// The blocking form of an extended call: `start` queues it with the
    /// completion given; its outcome is returned (the last progress dropped).
    fn wait_ex<T: Send + 'static>(
        &self,
        start: impl FnOnce(ExCompletion<T>) -> FtpOutcome<u64>,
    ) -> FtpOutcome<T> {
        self.blocking(|done| {
            start(Box::new(move |outcome, _last: &TransferProgress| {
                done(outcome)
            }))
            .map(|_| ())
        })
    }
}
