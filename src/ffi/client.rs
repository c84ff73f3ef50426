//! `mavftp_client`: every FTP operation, blocking and `_async`.
//!
//! Both forms of an operation run the same code: its *start* (check the C
//! arguments, queue the work with the Rust API's `_async` method and the
//! completion it is given) is written once, and [`mavftp_client::wait`] or
//! [`mavftp_client::submit`] runs it either way; only where the outcome goes
//! differs (out-parameters or a callback, see the `*_cb` helpers). A new
//! operation is its start, its two `extern "C"` functions of one or two lines
//! each, and a callback helper if its value is of a new kind.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::boundary::{Out, UserData, borrow, error_to_c, free, guard, local_path, remote_path};
use super::link::mavftp_link;
use super::list::{OwnedList, mavftp_list};
use crate::client::{Client, Completion, Listing, Progress, ProgressFn};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// A client of one remote FTP server (one target system/component) on a link.
/// Operations run one after the other in the order submitted (a second call
/// queues, it does not fail with BUSY); several clients on one link, of the
/// same target or not, work at the same time (each uses its own session ids
/// and sequence numbers).
///
/// Sharing a vehicle: the client never sends ResetSessions and closes only
/// the sessions it opened. While the server's sessions are held by another
/// ground station, an operation waits (timeout × retries at most, then
/// BUSY); a download whose session is closed or taken over under it re-opens
/// it, goes on, and is verified by CRC32 before SUCCESS. Files of 4 GiB or
/// more cannot be transferred (FILE_IO_ERROR: the protocol's offsets are
/// 32-bit). Its callbacks run on its worker thread (see "Threads and
/// callbacks" at the top of this header).
///
/// Thread safety: all functions may be called from any thread, also from
/// inside this client's callbacks (but a blocking operation called from one of
/// this client's own callbacks returns BUSY: use the `_async` form there).
pub struct mavftp_client {
    pub(super) inner: Client,
}

/// Largest window cap `mavftp_client_set_window_caps` accepts.
pub const MAVFTP_MAX_WINDOW_CAP: u32 = 1024;

/// Progress of a transfer.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct mavftp_progress {
    /// Bytes moved so far.
    pub bytes_transferred: u32,
    /// Size of the file; 0 while unknown.
    pub total_bytes: u32,
}

/// Transfer callback: called with NEXT and the progress so far (at least
/// every 1 % or 100 ms, whichever is rarer, at most 50 times per second), then
/// exactly once with the final result (SUCCESS or an error) and the last
/// progress.
pub type mavftp_progress_cb =
    Option<extern "C" fn(result: FtpResult, progress: mavftp_progress, user_data: *mut c_void)>;

/// Completion callback of an operation without a value.
pub type mavftp_result_cb = Option<extern "C" fn(result: FtpResult, user_data: *mut c_void)>;

/// Completion callback of a listing. `list` is NULL unless `result` is
/// SUCCESS, and valid only during the call (do not free it).
pub type mavftp_list_cb =
    Option<extern "C" fn(result: FtpResult, list: *const mavftp_list, user_data: *mut c_void)>;

/// Completion callback of a comparison; `value` is meaningful only when
/// `result` is SUCCESS.
pub type mavftp_bool_cb =
    Option<extern "C" fn(result: FtpResult, value: bool, user_data: *mut c_void)>;

impl From<Progress> for mavftp_progress {
    fn from(p: Progress) -> mavftp_progress {
        mavftp_progress {
            bytes_transferred: p.bytes_transferred,
            total_bytes: p.total_bytes,
        }
    }
}

/// The start of an operation: checks its C arguments and queues it on the
/// client (the Rust API's `_async` form) with the completion it is given.
trait Start<T>: FnOnce(&Client, Completion<T>) -> FtpOutcome<()> {}
impl<T, F: FnOnce(&Client, Completion<T>) -> FtpOutcome<()>> Start<T> for F {}

impl mavftp_client {
    /// Blocking form: run the operation and wait for its outcome in the
    /// calling thread. A failure's detail is kept before anything else sees
    /// the outcome (a transfer's final progress call): the engine keeps an
    /// operation's, this a refusal's (BUSY from inside a callback).
    fn wait<T: Send + 'static>(&self, start: impl Start<T>) -> FtpOutcome<T> {
        let outcome = self.inner.blocking(|done| start(&self.inner, done));
        if let Err(e) = &outcome {
            self.inner.last_error_store().set(&e.message);
        }
        outcome
    }

    /// `_async` form: queue the operation and return; `finish` gets its
    /// result code and outcome on the worker thread, exactly once, after the
    /// engine kept a failure's detail (a callback may read it).
    fn submit<T: Send + 'static>(
        &self,
        start: impl Start<T>,
        finish: impl FnOnce(FtpResult, FtpOutcome<T>) + Send + 'static,
    ) -> FtpOutcome<()> {
        start(
            &self.inner,
            Box::new(move |outcome| finish(FtpResult::of(&outcome), outcome)),
        )
    }
}

/// Run `body` with a checked client; any failure is kept as its last error
/// (the calling thread's for a NULL client).
pub(super) fn with_client(
    client: *const mavftp_client,
    body: impl FnOnce(&mavftp_client) -> FtpOutcome<()>,
) -> FtpResult {
    match borrow(client, "client") {
        Ok(c) => guard(Some(c.inner.last_error_store()), || body(c)),
        Err(e) => guard(None, || Err(e)),
    }
}

/// A transfer's progress callback: NEXT calls on the worker thread, then
/// exactly one final call with the result and the last progress.
#[derive(Clone)]
struct TransferCb {
    cb: mavftp_progress_cb,
    user: UserData,
    last: Arc<Mutex<mavftp_progress>>,
}

impl TransferCb {
    fn new(cb: mavftp_progress_cb, user_data: *mut c_void) -> TransferCb {
        TransferCb {
            cb,
            user: UserData(user_data),
            last: Arc::default(),
        }
    }

    /// The NEXT calls, for the Rust API's progress argument.
    fn forward(&self) -> Option<ProgressFn> {
        let cb = self.cb?;
        let (user, last) = (self.user, Arc::clone(&self.last));
        Some(Box::new(move |p: Progress| {
            let p = mavftp_progress::from(p);
            *last.lock() = p;
            cb(FtpResult::Next, p, user.get());
        }))
    }

    /// The final call.
    fn finish(self, code: FtpResult) {
        let p = *self.last.lock();
        if let Some(cb) = self.cb {
            cb(code, p, self.user.get());
        }
    }

    /// The final call of a blocking transfer, in the calling thread.
    fn finished(self, outcome: FtpOutcome<()>) -> FtpOutcome<()> {
        self.finish(FtpResult::of(&outcome));
        outcome
    }
}

/// Where the outcome of an `_async` operation without a value goes.
fn result_cb(
    cb: mavftp_result_cb,
    user_data: *mut c_void,
) -> impl FnOnce(FtpResult, FtpOutcome<()>) + Send + 'static {
    let user = UserData(user_data);
    move |code, _| {
        if let Some(cb) = cb {
            cb(code, user.get());
        }
    }
}

/// Where the outcome of an `_async` listing goes (the list lives for the call).
fn list_cb(
    cb: mavftp_list_cb,
    user_data: *mut c_void,
) -> impl FnOnce(FtpResult, FtpOutcome<Listing>) + Send + 'static {
    let user = UserData(user_data);
    move |code, outcome| {
        let owned = outcome.ok().map(|l| OwnedList::new(&l));
        let list = owned
            .as_ref()
            .map_or(std::ptr::null(), |o| o.view() as *const mavftp_list);
        if let Some(cb) = cb {
            cb(code, list, user.get());
        }
    }
}

/// Where the outcome of an `_async` comparison goes.
fn bool_cb(
    cb: mavftp_bool_cb,
    user_data: *mut c_void,
) -> impl FnOnce(FtpResult, FtpOutcome<bool>) + Send + 'static {
    let user = UserData(user_data);
    move |code, outcome| {
        if let Some(cb) = cb {
            cb(code, outcome.unwrap_or(false), user.get());
        }
    }
}

// --- The operations: each checks its C arguments (a refusal here never
// reaches a callback) and returns its start, which both forms run.

fn download(
    remote_file_path: *const c_char,
    local_dir: *const c_char,
    use_burst: bool,
    progress: Option<ProgressFn>,
) -> FtpOutcome<impl Start<()>> {
    let remote = remote_path(remote_file_path, "remote_file_path")?;
    let local = local_path(local_dir, "local_dir")?;
    Ok(move |c: &Client, done| c.download_async(remote, &local, use_burst, progress, done))
}

fn upload(
    local_file_path: *const c_char,
    remote_dir: *const c_char,
    progress: Option<ProgressFn>,
) -> FtpOutcome<impl Start<()>> {
    let local = local_path(local_file_path, "local_file_path")?;
    let remote = remote_path(remote_dir, "remote_dir")?;
    Ok(move |c: &Client, done| c.upload_async(&local, remote, progress, done))
}

fn list_directory(remote_dir: *const c_char) -> FtpOutcome<impl Start<Listing>> {
    let remote = remote_path(remote_dir, "remote_dir")?;
    Ok(move |c: &Client, done| c.list_directory_async(remote, done))
}

/// A command on one remote path: the Rust API's `_async` method and the
/// name of its path argument (for errors).
struct PathCommand {
    what: &'static str,
    command: fn(&Client, &str, Completion<()>) -> FtpOutcome<()>,
}

const CREATE_DIRECTORY: PathCommand = PathCommand {
    what: "remote_dir",
    command: Client::create_directory_async,
};
const REMOVE_DIRECTORY: PathCommand = PathCommand {
    what: "remote_dir",
    command: Client::remove_directory_async,
};
const REMOVE_FILE: PathCommand = PathCommand {
    what: "remote_file_path",
    command: Client::remove_file_async,
};

impl PathCommand {
    fn on(&self, path: *const c_char) -> FtpOutcome<impl Start<()>> {
        let path = remote_path(path, self.what)?;
        let command = self.command;
        Ok(move |c: &Client, done| command(c, path, done))
    }

    /// The blocking form.
    fn wait(&self, client: *mut mavftp_client, path: *const c_char) -> FtpResult {
        with_client(client, |c| c.wait(self.on(path)?))
    }

    /// The `_async` form.
    fn submit(
        &self,
        client: *mut mavftp_client,
        path: *const c_char,
        cb: mavftp_result_cb,
        user_data: *mut c_void,
    ) -> FtpResult {
        let finish = result_cb(cb, user_data);
        with_client(client, |c| c.submit(self.on(path)?, finish))
    }
}

fn rename(
    remote_from_path: *const c_char,
    remote_to_path: *const c_char,
) -> FtpOutcome<impl Start<()>> {
    let from = remote_path(remote_from_path, "remote_from_path")?;
    let to = remote_path(remote_to_path, "remote_to_path")?;
    Ok(move |c: &Client, done| c.rename_async(from, to, done))
}

fn are_files_identical(
    local_file_path: *const c_char,
    remote_file_path: *const c_char,
) -> FtpOutcome<impl Start<bool>> {
    let local = local_path(local_file_path, "local_file_path")?;
    let remote = remote_path(remote_file_path, "remote_file_path")?;
    Ok(move |c: &Client, done| c.are_files_identical_async(&local, remote, done))
}

/// Create a client of (target_system, target_component) on `link`.
/// target_system 0 means the first system heard (an operation waits up to
/// timeout × retries for one, then NO_SYSTEM); target_component 0 means 1
/// (the autopilot). On success `*out_client` receives a client to free with
/// `mavftp_client_free` (before or after its link).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_new(
    link: *mut mavftp_link,
    target_system: u8,
    target_component: u8,
    out_client: *mut *mut mavftp_client,
) -> FtpResult {
    guard(None, || {
        let out = Out::new(out_client, "out_client")?;
        let link = borrow(link, "link")?;
        let inner = Client::new(&link.inner, target_system, target_component)?;
        out.put_handle(mavftp_client { inner });
        Ok(())
    })
}

/// Free a client. Every accepted operation still queued or running ends
/// first: its callback runs exactly once (CANCELLED if cut short) before this
/// returns, and no callback of this client runs after it returns. Must not be
/// called from one of this client's own callbacks. NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_free(client: *mut mavftp_client) {
    // SAFETY: the caller passes a client from mavftp_client_new or NULL, once.
    unsafe { free(client) }
}

/// Detail of this client's last failure as text (which path, which NAK code,
/// which errno): of a call on this client, from any thread, or of an
/// operation it ran, blocking or `_async` (kept before the operation's
/// callback runs, so the callback may read it). "" when nothing failed yet
/// or `client` is NULL; never NULL. The string belongs to the library and
/// stays valid until the next `mavftp_client_last_error` or
/// `mavftp_last_error` call from the same thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_last_error(client: *const mavftp_client) -> *const c_char {
    let detail = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        borrow(client, "client").ok()?.inner.last_error()
    }));
    error_to_c(detail.unwrap_or_default())
}

/// Address another component of the target system from the next operation
/// on. INVALID_PARAMETER above 255.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_set_target_compid(
    client: *mut mavftp_client,
    compid: u32,
) -> FtpResult {
    with_client(client, |c| {
        let id = u8::try_from(compid)
            .map_err(|_| FtpError::invalid(format!("component id {compid} is above 255")))?;
        c.inner.set_target_compid(id);
        Ok(())
    })
}

/// Reply timeout per request in milliseconds (a base: it adapts to the
/// measured round trip) and the number of retries before TIMEOUT.
/// INVALID_PARAMETER for a timeout of 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_set_timeout(
    client: *mut mavftp_client,
    timeout_ms: u32,
    retries: u32,
) -> FtpResult {
    with_client(client, |c| {
        if timeout_ms == 0 {
            return Err(FtpError::invalid("timeout_ms is 0"));
        }
        c.inner
            .set_timeout(Duration::from_millis(u64::from(timeout_ms)), retries);
        Ok(())
    })
}

/// Most ReadFile and WriteFile requests kept in flight (defaults 64 and 32;
/// the window adapts below these caps; 0 keeps the current value). A window
/// that grows past 5 and sees requests dropped again and again is held at 5
/// for every later transfer to that server if the drops vanish there
/// (ArduPilot queues 5 requests and drops the rest); a cap of 5 or less
/// never probes. INVALID_PARAMETER above MAVFTP_MAX_WINDOW_CAP.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_set_window_caps(
    client: *mut mavftp_client,
    read: u32,
    write: u32,
) -> FtpResult {
    with_client(client, |c| {
        if read > MAVFTP_MAX_WINDOW_CAP || write > MAVFTP_MAX_WINDOW_CAP {
            return Err(FtpError::invalid(format!(
                "window caps {read}/{write}: at most {MAVFTP_MAX_WINDOW_CAP}"
            )));
        }
        c.inner.set_window_caps(read as usize, write as usize);
        Ok(())
    })
}

/// End the running and all queued operations of this client; their callbacks
/// (or blocking calls) get CANCELLED.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_cancel(client: *mut mavftp_client) -> FtpResult {
    with_client(client, |c| {
        c.inner.cancel();
        Ok(())
    })
}

/// Download `remote_file_path` into the existing directory `local_dir` (same
/// file name), blocking until done. The file is written under a temporary name
/// and renamed into place only when complete: a failed download leaves no file
/// and never touches an existing one. `use_burst` selects burst reads.
/// `progress` (may be NULL) gets NEXT calls from the worker thread and then
/// the final result once, from the calling thread, before this returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_download(
    client: *mut mavftp_client,
    remote_file_path: *const c_char,
    local_dir: *const c_char,
    use_burst: bool,
    progress: mavftp_progress_cb,
    user_data: *mut c_void,
) -> FtpResult {
    let cb = TransferCb::new(progress, user_data);
    with_client(client, |c| {
        let start = download(remote_file_path, local_dir, use_burst, cb.forward())?;
        cb.finished(c.wait(start))
    })
}

/// Start a download (see `mavftp_client_download`) and return at once.
/// Returns SUCCESS when the work was accepted: `progress` (may be NULL) then
/// gets NEXT calls and exactly one final result, on the worker thread. Any
/// other return value means the work was refused and `progress` never runs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_download_async(
    client: *mut mavftp_client,
    remote_file_path: *const c_char,
    local_dir: *const c_char,
    use_burst: bool,
    progress: mavftp_progress_cb,
    user_data: *mut c_void,
) -> FtpResult {
    let cb = TransferCb::new(progress, user_data);
    with_client(client, |c| {
        let start = download(remote_file_path, local_dir, use_burst, cb.forward())?;
        c.submit(start, |code, _| cb.finish(code))
    })
}

/// Upload the local file `local_file_path` into `remote_dir` (same file name),
/// blocking until done. `progress` as for `mavftp_client_download`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_upload(
    client: *mut mavftp_client,
    local_file_path: *const c_char,
    remote_dir: *const c_char,
    progress: mavftp_progress_cb,
    user_data: *mut c_void,
) -> FtpResult {
    let cb = TransferCb::new(progress, user_data);
    with_client(client, |c| {
        let start = upload(local_file_path, remote_dir, cb.forward())?;
        cb.finished(c.wait(start))
    })
}

/// Start an upload (see `mavftp_client_upload`); the `_async` contract of
/// `mavftp_client_download_async` applies.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_upload_async(
    client: *mut mavftp_client,
    local_file_path: *const c_char,
    remote_dir: *const c_char,
    progress: mavftp_progress_cb,
    user_data: *mut c_void,
) -> FtpResult {
    let cb = TransferCb::new(progress, user_data);
    with_client(client, |c| {
        let start = upload(local_file_path, remote_dir, cb.forward())?;
        c.submit(start, |code, _| cb.finish(code))
    })
}

/// List `remote_dir`, blocking. On success `*out_list` receives a list to
/// free with `mavftp_list_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_list_directory(
    client: *mut mavftp_client,
    remote_dir: *const c_char,
    out_list: *mut *mut mavftp_list,
) -> FtpResult {
    with_client(client, |c| {
        let out = Out::new(out_list, "out_list")?;
        let listing = c.wait(list_directory(remote_dir)?)?;
        out.put(OwnedList::into_handle(OwnedList::new(&listing)));
        Ok(())
    })
}

/// Start listing `remote_dir`; `callback` (may be NULL) runs exactly once on
/// the worker thread if this returns SUCCESS, never otherwise. The list it
/// receives is valid only during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_list_directory_async(
    client: *mut mavftp_client,
    remote_dir: *const c_char,
    callback: mavftp_list_cb,
    user_data: *mut c_void,
) -> FtpResult {
    let finish = list_cb(callback, user_data);
    with_client(client, |c| c.submit(list_directory(remote_dir)?, finish))
}

/// Create the directory `remote_dir` (its parent must exist), blocking.
/// FILE_EXISTS when it already exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_create_directory(
    client: *mut mavftp_client,
    remote_dir: *const c_char,
) -> FtpResult {
    CREATE_DIRECTORY.wait(client, remote_dir)
}

/// Start `mavftp_client_create_directory`; `callback` (may be NULL) runs exactly once on
/// the worker thread if this returns SUCCESS, never otherwise.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_create_directory_async(
    client: *mut mavftp_client,
    remote_dir: *const c_char,
    callback: mavftp_result_cb,
    user_data: *mut c_void,
) -> FtpResult {
    CREATE_DIRECTORY.submit(client, remote_dir, callback, user_data)
}

/// Remove the empty directory `remote_dir`, blocking.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_remove_directory(
    client: *mut mavftp_client,
    remote_dir: *const c_char,
) -> FtpResult {
    REMOVE_DIRECTORY.wait(client, remote_dir)
}

/// Start `mavftp_client_remove_directory`; `callback` (may be NULL) runs exactly once on
/// the worker thread if this returns SUCCESS, never otherwise.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_remove_directory_async(
    client: *mut mavftp_client,
    remote_dir: *const c_char,
    callback: mavftp_result_cb,
    user_data: *mut c_void,
) -> FtpResult {
    REMOVE_DIRECTORY.submit(client, remote_dir, callback, user_data)
}

/// Remove the file `remote_file_path`, blocking.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_remove_file(
    client: *mut mavftp_client,
    remote_file_path: *const c_char,
) -> FtpResult {
    REMOVE_FILE.wait(client, remote_file_path)
}

/// Start `mavftp_client_remove_file`; `callback` (may be NULL) runs exactly once on
/// the worker thread if this returns SUCCESS, never otherwise.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_remove_file_async(
    client: *mut mavftp_client,
    remote_file_path: *const c_char,
    callback: mavftp_result_cb,
    user_data: *mut c_void,
) -> FtpResult {
    REMOVE_FILE.submit(client, remote_file_path, callback, user_data)
}

/// Rename `remote_from_path` to `remote_to_path`, blocking.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_rename(
    client: *mut mavftp_client,
    remote_from_path: *const c_char,
    remote_to_path: *const c_char,
) -> FtpResult {
    with_client(client, |c| {
        c.wait(rename(remote_from_path, remote_to_path)?)
    })
}

/// Start a rename; `callback` (may be NULL) runs exactly once on the worker
/// thread if this returns SUCCESS, never otherwise.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_rename_async(
    client: *mut mavftp_client,
    remote_from_path: *const c_char,
    remote_to_path: *const c_char,
    callback: mavftp_result_cb,
    user_data: *mut c_void,
) -> FtpResult {
    let finish = result_cb(callback, user_data);
    with_client(client, |c| {
        c.submit(rename(remote_from_path, remote_to_path)?, finish)
    })
}

/// Compare the MAVLink CRC32 of the local file `local_file_path` with the
/// server's CRC of `remote_file_path`, blocking. On success
/// `*out_identical` receives whether they match.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_are_files_identical(
    client: *mut mavftp_client,
    local_file_path: *const c_char,
    remote_file_path: *const c_char,
    out_identical: *mut bool,
) -> FtpResult {
    with_client(client, |c| {
        let out = Out::new(out_identical, "out_identical")?;
        out.put(c.wait(are_files_identical(local_file_path, remote_file_path)?)?);
        Ok(())
    })
}

/// Start a comparison; `callback` (may be NULL) runs exactly once on the
/// worker thread if this returns SUCCESS, never otherwise.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_are_files_identical_async(
    client: *mut mavftp_client,
    local_file_path: *const c_char,
    remote_file_path: *const c_char,
    callback: mavftp_bool_cb,
    user_data: *mut c_void,
) -> FtpResult {
    let finish = bool_cb(callback, user_data);
    with_client(client, |c| {
        c.submit(
            are_files_identical(local_file_path, remote_file_path)?,
            finish,
        )
    })
}
