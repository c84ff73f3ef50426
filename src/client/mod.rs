//! The client engine: a worker thread per client, a queue of operations run
//! in submission order, and one state machine per operation kind.
//!
//! Parts, each depending only on the ones listed after it:
//! - `extended`: the extended transfers' API and queueing, over `tree`
//!   (whole directories, with `glob`) over `single` (one file: resume,
//!   verify, memory and stream, with `resume` and `sink`) over `ops`;
//! - `worker`: the threads that run queued operations (one unless
//!   `set_parallel` allows more), operation ids and per-operation cancel;
//! - `ops`: the operations (download with re-open after a lost session,
//!   upload, list, commands, CRC);
//! - the transfers: `burst` (burst download with gap fill) over `fetch`
//!   (what a download has and lacks, plain reads; kept across a re-opened
//!   session), `write` (upload body fed from disk), with `part_file` and
//!   `progress`;
//! - `session`: opening (claimed ids, busy waits, `parallel`'s limit on
//!   sessions held at once) and closing sessions;
//! - `window`: requests in flight, matched to replies, resent with one
//!   retry policy chosen per call; every request goes through it;
//! - `conversation`: the one receive path, sending, seq numbers, the target;
//! - pure logic: `rtt` (RTT/RTO estimate, Karn's rule, back-off), `probe`
//!   (the server-queue probe), `holes` (the hole list);
//! - leaves: `shared` (settings, cancellation, last error), `types` (the
//!   public data types), `trace` (`MAVFTP_TRACE`).
//!
//! Every operation is refused up front if its arguments are invalid (the
//! callback then never runs). A missing local directory for a download is
//! `FileIoError`; a missing local file for an upload or CRC is `FileDoesNotExist`.

mod burst;
mod conversation;
mod extended;
mod fetch;
mod glob;
mod holes;
mod ops;
mod parallel;
mod part_file;
mod pipeline;
mod probe;
mod progress;
mod resume;
mod rtt;
mod session;
mod shared;
mod single;
mod sink;
pub(crate) mod trace;
mod tree;
mod types;
mod window;
mod worker;
mod write;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use conversation::Conversation;
use progress::ProgressGate;
use shared::Control;
use worker::{Job, JobRun, OpTicket, Pool};

pub use extended::MAX_PARALLEL;
pub use glob::glob_match;
pub use types::{
    ChunkFn, Completion, DirEntry, DirReport, EntryKind, ExCompletion, FailedFile, Listing,
    Progress, ProgressFn, TransferOptions, TransferProgress, TransferProgressFn, TransferReport,
};

use crate::link::Link;
use crate::protocol::{Opcode, validate_remote_path};
use crate::result::{FtpError, FtpOutcome, FtpResult, LastError};

/// A client of one remote FTP server (one target system/component).
/// All methods may be called from any thread, including from inside callbacks.
pub struct Client {
    control: Arc<Control>,
    pool: Arc<Pool>,
    link: Link,
    close_hook: u64,
}

impl Client {
    /// Client of (target_system, target_component) on `link`. target_system 0
    /// means the first system heard; target_component 0 means 1 (autopilot).
    pub fn new(link: &Link, target_system: u8, target_component: u8) -> FtpOutcome<Client> {
        if link.is_closed() {
            return Err(FtpError::new(FtpResult::Cancelled, "link is closed"));
        }
        let control = Arc::new(Control::new(target_system, target_component));
        let pool = Pool::start(link, Arc::clone(&control))?;
        let weak = (Arc::downgrade(&control), Arc::downgrade(&pool));
        let close_hook = link.on_close(Box::new(move || {
            if let (Some(c), Some(p)) = (weak.0.upgrade(), weak.1.upgrade()) {
                c.cancel();
                p.notify();
            }
        }));
        Ok(Client {
            control,
            pool,
            link: link.clone(),
            close_hook,
        })
    }

    /// Address another component of the target system from the next operation on.
    pub fn set_target_compid(&self, compid: u8) {
        if let Ok(mut s) = self.control.settings.lock() {
            s.target_component = compid;
        }
    }

    /// Base reply timeout and retries per request (adapted to the measured RTT).
    pub fn set_timeout(&self, timeout: Duration, retries: u32) {
        if let Ok(mut s) = self.control.settings.lock() {
            s.timeout = timeout.max(Duration::from_millis(1));
            s.retries = retries;
        }
    }

    /// Most ReadFile and WriteFile requests kept in flight (defaults 64 and 32;
    /// the window adapts below these caps; 0 keeps the current value). A
    /// window that grows past 5 and sees requests dropped again and again
    /// is held at 5 for every later transfer to that server if the drops
    /// vanish there (ArduPilot queues 5 requests and drops the rest).
    pub fn set_window_caps(&self, read: usize, write: usize) {
        if let Ok(mut s) = self.control.settings.lock() {
            if read > 0 {
                s.read_window = read;
            }
            if write > 0 {
                s.write_window = write;
            }
        }
    }

    /// End the running and queued operations with `Cancelled`.
    pub fn cancel(&self) {
        self.control.cancel();
        self.pool.notify();
    }

    /// Detail of the last failure of this client (which path, which NAK
    /// code, which errno), if any: the message of the last failed
    /// operation's error; through the C ABI also of a refused call.
    pub fn last_error(&self) -> Option<String> {
        self.control.last_error.get()
    }

    /// Where this client keeps its last failure (the C boundary adds the
    /// failures of calls it refuses itself).
    pub(crate) fn last_error_store(&self) -> &LastError {
        &self.control.last_error
    }

    fn on_worker(&self) -> bool {
        self.pool.on_callback_thread()
    }

    /// Queue an operation; `run` does the work, `done` gets the outcome.
    fn submit<T: Send + 'static>(
        &self,
        run: impl FnOnce(&mut Conversation) -> FtpOutcome<T> + Send + 'static,
        done: Completion<T>,
    ) -> FtpOutcome<()> {
        let ticket = self.pool.ticket();
        let job = self.job(
            &ticket,
            run,
            Box::new(move |outcome, _| done(outcome)),
            None,
        );
        self.queue(ticket, job)
    }

    /// Queue a job under `ticket`, unless the client or its link is closing.
    fn queue(&self, ticket: OpTicket, job: Job) -> FtpOutcome<()> {
        if self.control.stopping.load(Ordering::SeqCst) || self.link.is_closed() {
            return Err(FtpError::new(
                FtpResult::Cancelled,
                "client is shutting down",
            ));
        }
        self.pool.push(ticket, job)
    }

    /// The job of one operation: runs `run` on a worker (a panic inside
    /// still ends it with a result, UNKNOWN and the panic's text), records a
    /// failure as the last error and calls `done` once, under the callback
    /// lock, with the final progress of `hub` (if any).
    fn job<T: Send + 'static>(
        &self,
        ticket: &OpTicket,
        run: impl FnOnce(&mut Conversation) -> FtpOutcome<T> + Send + 'static,
        done: ExCompletion<T>,
        hub: Option<Arc<progress::ProgressHub>>,
    ) -> Job {
        let control = self.control.clone();
        let ended = Arc::clone(&ticket.ended);
        Box::new(move |how| {
            let outcome = match how {
                JobRun::Cancelled => {
                    Err(FtpError::new(FtpResult::Cancelled, "operation cancelled"))
                }
                JobRun::Run(conv) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    conv.begin_operation()?;
                    run(conv)
                }))
                .unwrap_or_else(|panic| {
                    // A session the operation held is not left open.
                    session::close_abandoned(conv);
                    Err(FtpError::new(
                        FtpResult::Unknown,
                        format!(
                            "internal error: the operation panicked: {}",
                            panic_text(&*panic)
                        ),
                    ))
                }),
            };
            if let Err(e) = &outcome {
                control.set_error(e);
            }
            let last = hub.map(|h| h.snapshot()).unwrap_or_default();
            ended.store(true, Ordering::SeqCst);
            let _guard = control.callbacks.lock();
            done(outcome, &last);
        })
    }

    pub(crate) fn blocking<T: Send + 'static>(
        &self,
        start: impl FnOnce(Completion<T>) -> FtpOutcome<()>,
    ) -> FtpOutcome<T> {
        if self.on_worker() {
            return Err(FtpError::new(
                FtpResult::Busy,
                "blocking call from this client's own callback; use the _async form",
            ));
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        start(Box::new(move |r| {
            let _ = tx.send(r);
        }))?;
        rx.recv()
            .unwrap_or_else(|_| Err(FtpError::new(FtpResult::Cancelled, "client stopped")))
    }

    /// Download `remote_file_path` into `local_dir` (same file name).
    pub fn download_async(
        &self,
        remote_file_path: &str,
        local_dir: &Path,
        use_burst: bool,
        progress: Option<ProgressFn>,
        done: Completion<()>,
    ) -> FtpOutcome<()> {
        validate_remote_path(remote_file_path)?;
        ops::file_name(remote_file_path)?;
        ops::existing_dir(local_dir)?;
        let remote = remote_file_path.to_string();
        let dir = local_dir.to_path_buf();
        self.submit(
            move |conv| {
                let mut gate = ProgressGate::new(progress, &conv.control);
                ops::download(conv, &remote, &dir, use_burst, &mut gate)
            },
            done,
        )
    }

    /// Upload `local_file_path` into `remote_dir` (same file name).
    pub fn upload_async(
        &self,
        local_file_path: &Path,
        remote_dir: &str,
        progress: Option<ProgressFn>,
        done: Completion<()>,
    ) -> FtpOutcome<()> {
        validate_remote_path(remote_dir)?;
        ops::existing_file(local_file_path)?;
        let local = local_file_path.to_path_buf();
        let dir = remote_dir.to_string();
        self.submit(
            move |conv| {
                let mut gate = ProgressGate::new(progress, &conv.control);
                ops::upload(conv, &local, &dir, &mut gate)
            },
            done,
        )
    }

    /// List `remote_dir`.
    pub fn list_directory_async(
        &self,
        remote_dir: &str,
        done: Completion<Listing>,
    ) -> FtpOutcome<()> {
        validate_remote_path(remote_dir)?;
        let dir = remote_dir.to_string();
        self.submit(move |conv| ops::list(conv, &dir), done)
    }

    fn simple_async(&self, op: Opcode, path: &str, done: Completion<()>) -> FtpOutcome<()> {
        validate_remote_path(path)?;
        let path = path.to_string();
        self.submit(move |conv| ops::simple(conv, op, &path), done)
    }

    /// Create `remote_dir`.
    pub fn create_directory_async(&self, remote_dir: &str, done: Completion<()>) -> FtpOutcome<()> {
        self.simple_async(Opcode::CreateDirectory, remote_dir, done)
    }

    /// Remove the empty directory `remote_dir`.
    pub fn remove_directory_async(&self, remote_dir: &str, done: Completion<()>) -> FtpOutcome<()> {
        self.simple_async(Opcode::RemoveDirectory, remote_dir, done)
    }

    /// Remove the file `remote_file_path`.
    pub fn remove_file_async(
        &self,
        remote_file_path: &str,
        done: Completion<()>,
    ) -> FtpOutcome<()> {
        self.simple_async(Opcode::RemoveFile, remote_file_path, done)
    }

    /// Rename `remote_from_path` to `remote_to_path`.
    pub fn rename_async(
        &self,
        remote_from_path: &str,
        remote_to_path: &str,
        done: Completion<()>,
    ) -> FtpOutcome<()> {
        validate_remote_path(remote_from_path)?;
        validate_remote_path(remote_to_path)?;
        if remote_from_path.len() + 1 + remote_to_path.len() > crate::protocol::MAX_DATA {
            return Err(FtpError::invalid(
                "rename: both paths together exceed 238 bytes",
            ));
        }
        let from = remote_from_path.to_string();
        let to = remote_to_path.to_string();
        self.submit(move |conv| ops::rename(conv, &from, &to), done)
    }

    /// Compare the MAVLink CRC32 of a local file with the server's for a remote one.
    pub fn are_files_identical_async(
        &self,
        local_file_path: &Path,
        remote_file_path: &str,
        done: Completion<bool>,
    ) -> FtpOutcome<()> {
        validate_remote_path(remote_file_path)?;
        if !local_file_path.is_file() {
            return Err(FtpError::new(
                FtpResult::FileDoesNotExist,
                format!("local file {} does not exist", local_file_path.display()),
            ));
        }
        let local = local_file_path.to_path_buf();
        let remote = remote_file_path.to_string();
        self.submit(move |conv| ops::crc_compare(conv, &local, &remote), done)
    }

    /// Blocking download. Returns `Busy` when called from one of this client's
    /// own callbacks (it would wait for itself); use the async form there.
    pub fn download(
        &self,
        remote_file_path: &str,
        local_dir: &Path,
        use_burst: bool,
        progress: Option<ProgressFn>,
    ) -> FtpOutcome<()> {
        self.blocking(|d| self.download_async(remote_file_path, local_dir, use_burst, progress, d))
    }

    /// Blocking upload (see [`Client::download`] about callbacks).
    pub fn upload(
        &self,
        local_file_path: &Path,
        remote_dir: &str,
        progress: Option<ProgressFn>,
    ) -> FtpOutcome<()> {
        self.blocking(|d| self.upload_async(local_file_path, remote_dir, progress, d))
    }

    /// Blocking list.
    pub fn list_directory(&self, remote_dir: &str) -> FtpOutcome<Listing> {
        self.blocking(|d| self.list_directory_async(remote_dir, d))
    }

    /// Blocking create directory.
    pub fn create_directory(&self, remote_dir: &str) -> FtpOutcome<()> {
        self.blocking(|d| self.create_directory_async(remote_dir, d))
    }

    /// Blocking remove directory.
    pub fn remove_directory(&self, remote_dir: &str) -> FtpOutcome<()> {
        self.blocking(|d| self.remove_directory_async(remote_dir, d))
    }

    /// Blocking remove file.
    pub fn remove_file(&self, remote_file_path: &str) -> FtpOutcome<()> {
        self.blocking(|d| self.remove_file_async(remote_file_path, d))
    }

    /// Blocking rename.
    pub fn rename(&self, remote_from_path: &str, remote_to_path: &str) -> FtpOutcome<()> {
        self.blocking(|d| self.rename_async(remote_from_path, remote_to_path, d))
    }

    /// Blocking CRC comparison.
    pub fn are_files_identical(
        &self,
        local_file_path: &Path,
        remote_file_path: &str,
    ) -> FtpOutcome<bool> {
        self.blocking(|d| self.are_files_identical_async(local_file_path, remote_file_path, d))
    }
}

/// The message of a caught panic.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

impl Drop for Client {
    /// Ends every accepted operation (Cancelled if cut short) and waits for its
    /// callback, unless called from one of this client's own callbacks.
    fn drop(&mut self) {
        self.link.remove_close_hook(self.close_hook);
        self.pool.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dropping a client right after creating it never hangs: the stop
    /// request cannot slip between the worker's check and its wait.
    #[test]
    fn dropping_a_fresh_client_never_hangs() {
        let (done_tx, done_rx) = crossbeam_channel::bounded(4);
        // Four threads race creations and drops on both cores.
        for _ in 0..4 {
            let done_tx = done_tx.clone();
            std::thread::spawn(move || {
                let link = Link::open_custom(245, 190, Box::new(|_| {})).expect("link");
                for _ in 0..2000 {
                    let client = Client::new(&link, 1, 1).expect("client");
                    drop(client);
                }
                let _ = done_tx.send(());
            });
        }
        drop(done_tx);
        for _ in 0..4 {
            assert!(
                done_rx.recv_timeout(Duration::from_secs(60)).is_ok(),
                "a client's drop hung (lost wakeup of its worker)"
            );
        }
    }
}
