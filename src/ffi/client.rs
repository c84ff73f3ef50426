//! `mavftp_client`: every FTP operation, blocking and `_async`.

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::boundary::{UserData, guard, local_path, non_null, out_ptr, remote_path};
use super::link::mavftp_link;
use super::list::{OwnedList, mavftp_list};
use crate::client::{Client, Completion, Progress, ProgressFn};
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
    inner: Client,
    /// Detail of this client's last failure seen at the C boundary.
    error: Arc<Mutex<Option<String>>>,
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

thread_local! {
    /// Backing store of the string returned by `mavftp_client_last_error`.
    static LAST_ERROR_TEXT: RefCell<CString> = RefCell::new(CString::default());
}

impl From<Progress> for mavftp_progress {
    fn from(p: Progress) -> mavftp_progress {
        mavftp_progress {
            bytes_transferred: p.bytes_transferred,
            total_bytes: p.total_bytes,
        }
    }
}

/// Run `body` with a checked client; any failure is recorded as its last error.
fn with_client(
    client: *mut mavftp_client,
    body: impl FnOnce(&mavftp_client) -> Result<(), FtpError>,
) -> FtpResult {
    // SAFETY: the caller passes a client from mavftp_client_new or NULL.
    let Some(c) = (unsafe { client.as_ref() }) else {
        return FtpResult::InvalidParameter;
    };
    let slot = Arc::clone(&c.error);
    guard(move |msg| *slot.lock() = Some(msg), || body(c))
}

/// The code of an outcome, recording a failure's detail.
fn code_of<T>(outcome: &FtpOutcome<T>, slot: &Mutex<Option<String>>) -> FtpResult {
    match outcome {
        Ok(_) => FtpResult::Success,
        Err(e) => {
            *slot.lock() = Some(e.message.clone());
            e.result
        }
    }
}

/// Progress forwarding for a transfer: NEXT calls on the worker thread and
/// the last value kept for the final call.
fn progress_forwarder(
    cb: mavftp_progress_cb,
    user: UserData,
    last: &Arc<Mutex<mavftp_progress>>,
) -> Option<ProgressFn> {
    let cb = cb?;
    let last = Arc::clone(last);
    Some(Box::new(move |p: Progress| {
        let p = mavftp_progress::from(p);
        *last.lock() = p;
        cb(FtpResult::Next, p, user.get());
    }))
}

/// Final call of a transfer's progress callback.
fn transfer_done(
    cb: mavftp_progress_cb,
    user: UserData,
    slot: Arc<Mutex<Option<String>>>,
    last: Arc<Mutex<mavftp_progress>>,
) -> Completion<()> {
    Box::new(move |outcome| {
        let code = code_of(&outcome, &slot);
        let p = *last.lock();
        if let Some(cb) = cb {
            cb(code, p, user.get());
        }
    })
}

/// Completion of an operation without a value.
fn result_done(
    cb: mavftp_result_cb,
    user: UserData,
    slot: Arc<Mutex<Option<String>>>,
) -> Completion<()> {
    Box::new(move |outcome| {
        let code = code_of(&outcome, &slot);
        if let Some(cb) = cb {
            cb(code, user.get());
        }
    })
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
    guard(
        |_| (),
        || {
            let out = out_ptr(out_client, "out_client")?;
            let link = non_null(link.cast_const(), "link")?;
            let inner = Client::new(&link.inner, target_system, target_component)?;
            let client = mavftp_client {
                inner,
                error: Arc::new(Mutex::new(None)),
            };
            // SAFETY: checked non-null; the caller provides a writable slot.
            unsafe { *out = Box::into_raw(Box::new(client)) };
            Ok(())
        },
    )
}

/// Free a client. Every accepted operation still queued or running ends
/// first: its callback runs exactly once (CANCELLED if cut short) before this
/// returns, and no callback of this client runs after it returns. Must not be
/// called from one of this client's own callbacks. NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_free(client: *mut mavftp_client) {
    if client.is_null() {
        return;
    }
    super::boundary::guard_void(|| {
        // SAFETY: a non-null pointer came from Box::into_raw in mavftp_client_new.
        drop(unsafe { Box::from_raw(client) });
    });
}

/// Detail of this client's last failure as text (which path, which NAK code,
/// which errno), or "" when nothing failed yet. Never NULL (also for a NULL
/// client). The string belongs to the library and stays valid until the next
/// call of any `mavftp_client_*` function from the same thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_last_error(client: *const mavftp_client) -> *const c_char {
    let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the caller passes a client from mavftp_client_new or NULL.
        let c = unsafe { client.as_ref() }?;
        c.error.lock().clone().or_else(|| c.inner.last_error())
    }))
    .ok()
    .flatten()
    .unwrap_or_default();
    let bytes: Vec<u8> = text.into_bytes().into_iter().filter(|b| *b != 0).collect();
    let cstring = CString::new(bytes).unwrap_or_default();
    LAST_ERROR_TEXT.with(|cell| {
        *cell.borrow_mut() = cstring;
        cell.borrow().as_ptr()
    })
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
    let user = UserData(user_data);
    with_client(client, |c| {
        let remote = remote_path(remote_file_path, "remote_file_path")?;
        let local = local_path(local_dir, "local_dir")?;
        let last = Arc::new(Mutex::new(mavftp_progress::default()));
        let forward = progress_forwarder(progress, user, &last);
        let outcome = c.inner.download(remote, &local, use_burst, forward);
        transfer_done(progress, user, Arc::clone(&c.error), last)(outcome.clone());
        outcome
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
    let user = UserData(user_data);
    with_client(client, |c| {
        let remote = remote_path(remote_file_path, "remote_file_path")?;
        let local = local_path(local_dir, "local_dir")?;
        let last = Arc::new(Mutex::new(mavftp_progress::default()));
        let forward = progress_forwarder(progress, user, &last);
        let done = transfer_done(progress, user, Arc::clone(&c.error), last);
        c.inner
            .download_async(remote, &local, use_burst, forward, done)
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
    let user = UserData(user_data);
    with_client(client, |c| {
        let local = local_path(local_file_path, "local_file_path")?;
        let remote = remote_path(remote_dir, "remote_dir")?;
        let last = Arc::new(Mutex::new(mavftp_progress::default()));
        let forward = progress_forwarder(progress, user, &last);
        let outcome = c.inner.upload(&local, remote, forward);
        transfer_done(progress, user, Arc::clone(&c.error), last)(outcome.clone());
        outcome
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
    let user = UserData(user_data);
    with_client(client, |c| {
        let local = local_path(local_file_path, "local_file_path")?;
        let remote = remote_path(remote_dir, "remote_dir")?;
        let last = Arc::new(Mutex::new(mavftp_progress::default()));
        let forward = progress_forwarder(progress, user, &last);
        let done = transfer_done(progress, user, Arc::clone(&c.error), last);
        c.inner.upload_async(&local, remote, forward, done)
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
        let out = out_ptr(out_list, "out_list")?;
        let remote = remote_path(remote_dir, "remote_dir")?;
        let listing = c.inner.list_directory(remote)?;
        let owned = Box::into_raw(OwnedList::new(&listing));
        // SAFETY: checked non-null; OwnedList starts with its mavftp_list view.
        unsafe { *out = owned.cast::<mavftp_list>() };
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
    let user = UserData(user_data);
    with_client(client, |c| {
        let remote = remote_path(remote_dir, "remote_dir")?;
        let slot = Arc::clone(&c.error);
        c.inner.list_directory_async(
            remote,
            Box::new(move |outcome| {
                let code = code_of(&outcome, &slot);
                let owned = outcome.ok().map(|l| OwnedList::new(&l));
                let ptr = owned
                    .as_ref()
                    .map_or(std::ptr::null(), |o| o.view() as *const mavftp_list);
                if let Some(cb) = callback {
                    cb(code, ptr, user.get());
                }
                drop(owned);
            }),
        )
    })
}

/// Create the directory `remote_dir` (its parent must exist), blocking.
/// FILE_EXISTS when it already exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_create_directory(
    client: *mut mavftp_client,
    remote_dir: *const c_char,
) -> FtpResult {
    with_client(client, |c| {
        let path = remote_path(remote_dir, "remote_dir")?;
        c.inner.create_directory(path)
    })
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
    let user = UserData(user_data);
    with_client(client, |c| {
        let path = remote_path(remote_dir, "remote_dir")?;
        c.inner
            .create_directory_async(path, result_done(callback, user, Arc::clone(&c.error)))
    })
}

/// Remove the empty directory `remote_dir`, blocking.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_remove_directory(
    client: *mut mavftp_client,
    remote_dir: *const c_char,
) -> FtpResult {
    with_client(client, |c| {
        let path = remote_path(remote_dir, "remote_dir")?;
        c.inner.remove_directory(path)
    })
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
    let user = UserData(user_data);
    with_client(client, |c| {
        let path = remote_path(remote_dir, "remote_dir")?;
        c.inner
            .remove_directory_async(path, result_done(callback, user, Arc::clone(&c.error)))
    })
}

/// Remove the file `remote_file_path`, blocking.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_remove_file(
    client: *mut mavftp_client,
    remote_file_path: *const c_char,
) -> FtpResult {
    with_client(client, |c| {
        let path = remote_path(remote_file_path, "remote_file_path")?;
        c.inner.remove_file(path)
    })
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
    let user = UserData(user_data);
    with_client(client, |c| {
        let path = remote_path(remote_file_path, "remote_file_path")?;
        c.inner
            .remove_file_async(path, result_done(callback, user, Arc::clone(&c.error)))
    })
}

/// Rename `remote_from_path` to `remote_to_path`, blocking.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_rename(
    client: *mut mavftp_client,
    remote_from_path: *const c_char,
    remote_to_path: *const c_char,
) -> FtpResult {
    with_client(client, |c| {
        let from = remote_path(remote_from_path, "remote_from_path")?;
        let to = remote_path(remote_to_path, "remote_to_path")?;
        c.inner.rename(from, to)
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
    let user = UserData(user_data);
    with_client(client, |c| {
        let from = remote_path(remote_from_path, "remote_from_path")?;
        let to = remote_path(remote_to_path, "remote_to_path")?;
        c.inner
            .rename_async(from, to, result_done(callback, user, Arc::clone(&c.error)))
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
        let out = out_ptr(out_identical, "out_identical")?;
        let local = local_path(local_file_path, "local_file_path")?;
        let remote = remote_path(remote_file_path, "remote_file_path")?;
        let same = c.inner.are_files_identical(&local, remote)?;
        // SAFETY: checked non-null; the caller provides a writable bool.
        unsafe { *out = same };
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
    let user = UserData(user_data);
    with_client(client, |c| {
        let local = local_path(local_file_path, "local_file_path")?;
        let remote = remote_path(remote_file_path, "remote_file_path")?;
        let slot = Arc::clone(&c.error);
        c.inner.are_files_identical_async(
            &local,
            remote,
            Box::new(move |outcome| {
                let code = code_of(&outcome, &slot);
                let same = outcome.unwrap_or(false);
                if let Some(cb) = callback {
                    cb(code, same, user.get());
                }
            }),
        )
    })
}
