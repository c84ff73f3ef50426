//! The extended transfers of a `mavftp_client`: an options struct that can
//! grow without breaking the ABI, operation ids for per-operation cancel,
//! 64-bit progress, resume, verified transfers, whole directories, memory
//! and streamed downloads, several operations at once.

use std::ffi::{CString, c_char, c_void};
use std::path::Path;

use super::boundary::{Out, UserData, c_str, free, guard, local_path, remote_path};
use super::client::{mavftp_client, with_client};
use crate::client::{
    ChunkFn, Client, DirReport, ExCompletion, MAX_PARALLEL, TransferOptions, TransferProgress,
    TransferProgressFn, TransferReport,
};
use crate::result::{FtpError, FtpOutcome, FtpResult};

/// Most operations `mavftp_client_set_parallel` lets one client run at once.
pub const MAVFTP_MAX_PARALLEL: u32 = 16;
const _: () = assert!(MAVFTP_MAX_PARALLEL as usize == MAX_PARALLEL);

/// Options of the extended transfers. Set `struct_size` to
/// `sizeof(mavftp_transfer_options)` and zero every other field for the
/// defaults (plain reads, resume on, no verification, every file, identical
/// files skipped), e.g. with `mavftp_transfer_options_init()`; a NULL
/// options pointer means the defaults too. Later versions of the library
/// add fields at the end: a program built against an older header passes
/// its smaller size and gets the defaults for the new fields; a larger size
/// than this library knows is accepted when the unknown bytes are zero,
/// otherwise the call returns INVALID_PARAMETER (the program asks for an
/// option this library lacks).
#[repr(C)]
pub struct mavftp_transfer_options {
    /// `sizeof(mavftp_transfer_options)` as the caller was compiled.
    pub struct_size: usize,
    /// Downloads: burst reads instead of plain ones (uploads ignore it).
    pub use_burst: bool,
    /// After the transfer compare the MAVLink CRC32 of both ends
    /// (CalcFileCRC32); on a mismatch transfer once more, then
    /// FILE_IO_ERROR.
    pub verify: bool,
    /// Downloads to a file: do not keep a failed download's bytes for the
    /// next try (a failure then leaves nothing behind). By default a failed,
    /// cancelled or killed download leaves a hidden part file and metadata
    /// beside the destination (`.NAME.mavftp-resume`,
    /// `.NAME.mavftp-resume.meta`) and the next download of the same remote
    /// file into the same place goes on from there if the remote file's
    /// size and listing time are unchanged (checked by CRC32 at the end).
    pub no_resume: bool,
    /// Directory operations: transfer files even when the other side has an
    /// identical copy (same size and CRC32); by default those are skipped.
    pub transfer_identical: bool,
    /// Directory operations: only files whose path relative to the
    /// directory matches this pattern (`*` and `?` within a path component,
    /// `**` across them; a pattern without `/` matches the file name).
    /// NULL: every file. Copied by the call.
    pub glob: *const c_char,
}

/// Progress of an extended transfer (directory operations count all their
/// files). Valid only during the callback.
#[repr(C)]
pub struct mavftp_transfer_progress {
    /// The operation's id.
    pub op_id: u64,
    /// Bytes moved so far (a resumed download counts the bytes it resumed from).
    pub bytes_transferred: u64,
    /// Bytes to move in all; 0 while unknown.
    pub total_bytes: u64,
    /// Rate over the last seconds, bytes per second (0 while unknown).
    pub bytes_per_second: f64,
    /// Estimated seconds left; negative while unknown.
    pub eta_seconds: f64,
    /// Files started so far (1-based index of the newest one).
    pub file_index: u32,
    /// Files in the operation (1 for a single file).
    pub file_count: u32,
    /// Files that failed so far (a directory operation goes on with the others).
    pub files_failed: u32,
    /// Files left out because the other side had them already.
    pub files_skipped: u32,
    /// The newest file started (for a directory, relative to it); never NULL.
    pub current_file: *const c_char,
}

/// Callback of an extended transfer: called with NEXT and the progress (at
/// most 10 times per second), then exactly once with the final result and
/// the last progress. For a directory operation the final result is SUCCESS
/// only when every file succeeded; otherwise it is the first failure's code,
/// `progress->files_failed` says how many failed and
/// `mavftp_client_last_error` names each of them.
pub type mavftp_transfer_cb = Option<
    extern "C" fn(
        result: FtpResult,
        progress: *const mavftp_transfer_progress,
        user_data: *mut c_void,
    ),
>;

/// A downloaded file in memory, allocated by the library.
#[repr(C)]
pub struct mavftp_buffer {
    /// The bytes (NULL when `len` is 0).
    pub data: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// The C view plus the bytes; `view` stays first so that a
/// `*mut mavftp_buffer` is also a `*mut OwnedBuffer`.
#[repr(C)]
struct OwnedBuffer {
    view: mavftp_buffer,
    bytes: Vec<u8>,
}

/// Final callback of `mavftp_client_download_to_memory`: `buffer` is NULL
/// unless `result` is SUCCESS; the caller owns it and frees it with
/// `mavftp_buffer_free` (also allowed inside the callback).
pub type mavftp_buffer_cb =
    Option<extern "C" fn(result: FtpResult, buffer: *mut mavftp_buffer, user_data: *mut c_void)>;

/// Data callback of `mavftp_client_download_stream`: the next `len` bytes
/// of the file, at `offset` (each call continues the previous one: the
/// pieces arrive in file order without gaps). Return true to go on, false
/// to stop the download (it ends CANCELLED). `data` is valid only during the call.
pub type mavftp_chunk_cb =
    Option<extern "C" fn(offset: u64, data: *const u8, len: usize, user_data: *mut c_void) -> bool>;

/// Size of the first version of `mavftp_transfer_options`.
const OPTIONS_V1: usize = std::mem::size_of::<mavftp_transfer_options>();

/// The options behind `p` (NULL: the defaults), checked as the struct's
/// doc says.
fn read_options(p: *const mavftp_transfer_options) -> FtpOutcome<TransferOptions> {
    if p.is_null() {
        return Ok(TransferOptions::default());
    }
    // SAFETY: non-null; the caller promises at least `struct_size` readable
    // bytes, and struct_size is the first field of every version.
    let size = unsafe { std::ptr::read_unaligned(p.cast::<usize>()) };
    if size < OPTIONS_V1 {
        return Err(FtpError::invalid(format!(
            "options->struct_size is {size}; set it to sizeof(mavftp_transfer_options) \
             ({OPTIONS_V1})"
        )));
    }
    if size > OPTIONS_V1 {
        if size > 4096 {
            return Err(FtpError::invalid(format!(
                "options->struct_size is {size}: not a mavftp_transfer_options"
            )));
        }
        // SAFETY: as above, `size` bytes are readable.
        let all = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), size) };
        if all[OPTIONS_V1..].iter().any(|&b| b != 0) {
            return Err(FtpError::invalid(format!(
                "options set fields this library version does not know (struct_size {size}, \
                 known {OPTIONS_V1})"
            )));
        }
    }
    // SAFETY: at least OPTIONS_V1 bytes are readable.
    let o = unsafe { &*p };
    let glob = if o.glob.is_null() {
        None
    } else {
        Some(c_str(o.glob, "options->glob")?.to_string())
    };
    Ok(TransferOptions {
        use_burst: o.use_burst,
        resume: !o.no_resume,
        verify: o.verify,
        glob,
        skip_identical: !o.transfer_identical,
    })
}

/// A progress for C, with its file name kept alive for the call.
fn to_c(p: &TransferProgress) -> (mavftp_transfer_progress, CString) {
    let name = CString::new(p.current_file.replace('\0', "")).unwrap_or_default();
    let c = mavftp_transfer_progress {
        op_id: p.op_id,
        bytes_transferred: p.bytes_transferred,
        total_bytes: p.total_bytes,
        bytes_per_second: p.bytes_per_second,
        eta_seconds: p.eta_seconds.unwrap_or(-1.0),
        file_index: p.file_index,
        file_count: p.file_count,
        files_failed: p.files_failed,
        files_skipped: p.files_skipped,
        current_file: name.as_ptr(),
    };
    (c, name)
}

/// The NEXT calls of `cb`.
fn forward(cb: mavftp_transfer_cb, user: UserData) -> Option<TransferProgressFn> {
    let cb = cb?;
    Some(Box::new(move |p: &TransferProgress| {
        let (c, _name) = to_c(p);
        cb(FtpResult::Next, &c, user.get());
    }))
}

/// The final call of `cb` with the outcome (a directory's failures count;
/// the engine kept a failure's detail before this runs).
fn finish<T: Send + 'static>(
    cb: mavftp_transfer_cb,
    user: UserData,
    as_result: fn(FtpOutcome<T>) -> FtpOutcome<()>,
) -> ExCompletion<T> {
    Box::new(move |outcome, last| {
        let code = FtpResult::of(&as_result(outcome));
        let (c, _name) = to_c(last);
        if let Some(cb) = cb {
            cb(code, &c, user.get());
        }
    })
}

fn unit<T>(o: FtpOutcome<T>) -> FtpOutcome<()> {
    o.map(|_| ())
}

fn dir_result(o: FtpOutcome<DirReport>) -> FtpOutcome<()> {
    o.and_then(|r| r.result())
}

/// Fill `options` with the defaults and its `struct_size` (every other
/// field zero). INVALID_PARAMETER for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_transfer_options_init(
    options: *mut mavftp_transfer_options,
) -> FtpResult {
    guard(None, || {
        Out::new(options, "options")?.put(mavftp_transfer_options {
            struct_size: OPTIONS_V1,
            use_burst: false,
            verify: false,
            no_resume: false,
            transfer_identical: false,
            glob: std::ptr::null(),
        });
        Ok(())
    })
}

/// Queue an extended operation: `start` checks its C arguments and queues
/// it on the client, and its id goes to `*out_op_id` (checked first). A
/// refusal is kept as the client's last error; the callbacks never run then.
fn queue_op(
    client: *const mavftp_client,
    out_op_id: *mut u64,
    start: impl FnOnce(&Client) -> FtpOutcome<u64>,
) -> FtpResult {
    with_client(client, |c| {
        let out = Out::new(out_op_id, "out_op_id")?;
        out.put(start(&c.inner)?);
        Ok(())
    })
}

/// How a transfer between a remote and a local path is queued: (client,
/// remote, local, options, progress, completion) -> operation id.
type StartEx<T> = fn(
    &Client,
    &str,
    &Path,
    &TransferOptions,
    Option<TransferProgressFn>,
    ExCompletion<T>,
) -> FtpOutcome<u64>;

/// One of the four transfers between a remote and a local path (a file
/// into a directory, a directory into a directory): the Rust API's `_async`
/// method with the paths in (remote, local) order, the C names of the path
/// arguments (for errors) and how its outcome becomes the final result.
struct PathTransfer<T> {
    remote_arg: &'static str,
    local_arg: &'static str,
    start: StartEx<T>,
    as_result: fn(FtpOutcome<T>) -> FtpOutcome<()>,
}

const DOWNLOAD_EX: PathTransfer<TransferReport> = PathTransfer {
    remote_arg: "remote_file_path",
    local_arg: "local_dir",
    start: |c, remote, local, o, p, done| c.download_ex_async(remote, local, o, p, done),
    as_result: unit,
};
const UPLOAD_EX: PathTransfer<TransferReport> = PathTransfer {
    remote_arg: "remote_dir",
    local_arg: "local_file_path",
    start: |c, remote, local, o, p, done| c.upload_ex_async(local, remote, o, p, done),
    as_result: unit,
};
const DOWNLOAD_DIR: PathTransfer<DirReport> = PathTransfer {
    remote_arg: "remote_dir",
    local_arg: "local_dir",
    start: |c, remote, local, o, p, done| c.download_dir_async(remote, local, o, p, done),
    as_result: dir_result,
};
const UPLOAD_DIR: PathTransfer<DirReport> = PathTransfer {
    remote_arg: "remote_dir",
    local_arg: "local_dir",
    start: |c, remote, local, o, p, done| c.upload_dir_async(local, remote, o, p, done),
    as_result: dir_result,
};

impl<T: Send + 'static> PathTransfer<T> {
    /// Check the arguments and queue the transfer (see `queue_op`); `paths`
    /// are the remote and the local path.
    fn queue(
        &self,
        client: *const mavftp_client,
        (remote, local): (*const c_char, *const c_char),
        options: *const mavftp_transfer_options,
        callback: mavftp_transfer_cb,
        user_data: *mut c_void,
        out_op_id: *mut u64,
    ) -> FtpResult {
        let user = UserData(user_data);
        queue_op(client, out_op_id, |c| {
            let remote = remote_path(remote, self.remote_arg)?;
            let local = local_path(local, self.local_arg)?;
            let opts = read_options(options)?;
            let done = finish(callback, user, self.as_result);
            (self.start)(c, remote, &local, &opts, forward(callback, user), done)
        })
    }
}

/// Run up to `parallel` operations of this client at once, 1 to
/// MAVFTP_MAX_PARALLEL (default 1: one at a time in submission order); each
/// on its own worker thread and, for a transfer, its own server session.
/// A server that takes fewer sessions (PX4 and MAVSDK's server take one,
/// ours four per client) makes transfers wait for one in turn, never fail.
/// With 2 or more a listing is not stuck behind a long download, and a
/// directory operation moves several files at once. Applies to operations
/// started afterwards. INVALID_PARAMETER outside 1..MAVFTP_MAX_PARALLEL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_set_parallel(
    client: *mut mavftp_client,
    parallel: u32,
) -> FtpResult {
    with_client(client, |c| {
        if parallel == 0 || parallel > MAVFTP_MAX_PARALLEL {
            return Err(FtpError::invalid(format!(
                "parallel {parallel}: 1 to {MAVFTP_MAX_PARALLEL}"
            )));
        }
        c.inner.set_parallel(parallel as usize);
        Ok(())
    })
}

/// Cancel one operation by the id an extended call returned: a queued one
/// ends at once, a running one at its next step; its callback then gets
/// CANCELLED (on a library thread). `mavftp_client_cancel` still cancels
/// everything. INVALID_PARAMETER when no operation with this id is queued
/// or running (0, an id never issued, or one that ended already).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_cancel_op(
    client: *mut mavftp_client,
    op_id: u64,
) -> FtpResult {
    with_client(client, |c| {
        if c.inner.cancel_op(op_id) {
            Ok(())
        } else {
            Err(FtpError::invalid(format!(
                "no operation {op_id} is queued or running"
            )))
        }
    })
}

/// Download `remote_file_path` into the existing directory `local_dir`
/// (same file name) with `options` (NULL: defaults, see
/// `mavftp_transfer_options`); returns at once. On SUCCESS the work was
/// accepted: `*out_op_id` receives its id (for `mavftp_client_cancel_op`)
/// and `callback` (may be NULL) gets NEXT calls and exactly one final
/// result on a library thread. Any other return value: refused, the
/// callback never runs. The file appears under its name only when complete.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_download_ex(
    client: *mut mavftp_client,
    remote_file_path: *const c_char,
    local_dir: *const c_char,
    options: *const mavftp_transfer_options,
    callback: mavftp_transfer_cb,
    user_data: *mut c_void,
    out_op_id: *mut u64,
) -> FtpResult {
    DOWNLOAD_EX.queue(
        client,
        (remote_file_path, local_dir),
        options,
        callback,
        user_data,
        out_op_id,
    )
}

/// Upload the local file `local_file_path` into `remote_dir` (same name)
/// with `options` (`verify` applies); the contract of
/// `mavftp_client_download_ex`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_upload_ex(
    client: *mut mavftp_client,
    local_file_path: *const c_char,
    remote_dir: *const c_char,
    options: *const mavftp_transfer_options,
    callback: mavftp_transfer_cb,
    user_data: *mut c_void,
    out_op_id: *mut u64,
) -> FtpResult {
    UPLOAD_EX.queue(
        client,
        (remote_dir, local_file_path),
        options,
        callback,
        user_data,
        out_op_id,
    )
}

/// Download the remote directory `remote_dir` recursively into the existing
/// `local_dir` (subdirectories are created): files matching `options->glob`,
/// identical ones skipped (so a second run moves only what is new), each
/// with the options (burst, resume, verify), up to
/// `mavftp_client_set_parallel` at once. A file that fails does not stop
/// the others; the final result counts them (see `mavftp_transfer_cb`).
/// The contract of `mavftp_client_download_ex`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_download_dir(
    client: *mut mavftp_client,
    remote_dir: *const c_char,
    local_dir: *const c_char,
    options: *const mavftp_transfer_options,
    callback: mavftp_transfer_cb,
    user_data: *mut c_void,
    out_op_id: *mut u64,
) -> FtpResult {
    DOWNLOAD_DIR.queue(
        client,
        (remote_dir, local_dir),
        options,
        callback,
        user_data,
        out_op_id,
    )
}

/// Upload the local directory `local_dir` recursively into the existing
/// remote directory `remote_dir` (subdirectories are created), like
/// `mavftp_client_download_dir` the other way.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_upload_dir(
    client: *mut mavftp_client,
    local_dir: *const c_char,
    remote_dir: *const c_char,
    options: *const mavftp_transfer_options,
    callback: mavftp_transfer_cb,
    user_data: *mut c_void,
    out_op_id: *mut u64,
) -> FtpResult {
    UPLOAD_DIR.queue(
        client,
        (remote_dir, local_dir),
        options,
        callback,
        user_data,
        out_op_id,
    )
}

/// Download `remote_file_path` into a buffer the library allocates (for
/// `@PARAM/param.pck`, the text files under `@SYS`, mission files), with the same loss
/// handling as a download to a file; `options`: `use_burst`, `verify`.
/// `progress` (may be NULL) gets NEXT calls only; `on_done` (may be NULL)
/// runs exactly once with the result and, on SUCCESS, the buffer, which the
/// caller frees with `mavftp_buffer_free`. The contract of
/// `mavftp_client_download_ex` otherwise.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_download_to_memory(
    client: *mut mavftp_client,
    remote_file_path: *const c_char,
    options: *const mavftp_transfer_options,
    progress: mavftp_transfer_cb,
    on_done: mavftp_buffer_cb,
    user_data: *mut c_void,
    out_op_id: *mut u64,
) -> FtpResult {
    let user = UserData(user_data);
    queue_op(client, out_op_id, |c| {
        let remote = remote_path(remote_file_path, "remote_file_path")?;
        let opts = read_options(options)?;
        let done: ExCompletion<Vec<u8>> = Box::new(move |outcome, _last| {
            let code = FtpResult::of(&outcome);
            let buffer = outcome.ok().map_or(std::ptr::null_mut(), |bytes| {
                let owned = Box::new(OwnedBuffer {
                    view: mavftp_buffer {
                        data: std::ptr::null(),
                        len: bytes.len(),
                    },
                    bytes,
                });
                let raw = Box::into_raw(owned);
                // SAFETY: just allocated; the Vec's heap block does not move
                // with the box.
                unsafe {
                    if (*raw).view.len > 0 {
                        (*raw).view.data = (*raw).bytes.as_ptr();
                    }
                }
                raw.cast::<mavftp_buffer>()
            });
            match on_done {
                Some(cb) => cb(code, buffer, user.get()),
                // Nobody takes it.
                None => free_buffer(buffer),
            }
        });
        c.download_to_memory_async(remote, &opts, forward(progress, user), done)
    })
}

/// Download `remote_file_path` handing each contiguous piece to `on_chunk`
/// in file order (bytes that arrive ahead of a gap are held until it is
/// filled); `on_chunk` returning false stops the download (CANCELLED).
/// `callback` gets NEXT calls and exactly one final result. With
/// `options->verify` a CRC32 mismatch is FILE_IO_ERROR (what was handed over
/// cannot be taken back). INVALID_PARAMETER when `on_chunk` is NULL. The
/// contract of `mavftp_client_download_ex` otherwise.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_client_download_stream(
    client: *mut mavftp_client,
    remote_file_path: *const c_char,
    options: *const mavftp_transfer_options,
    on_chunk: mavftp_chunk_cb,
    callback: mavftp_transfer_cb,
    user_data: *mut c_void,
    out_op_id: *mut u64,
) -> FtpResult {
    let user = UserData(user_data);
    queue_op(client, out_op_id, |c| {
        let remote = remote_path(remote_file_path, "remote_file_path")?;
        let opts = read_options(options)?;
        let chunk_cb = on_chunk.ok_or_else(|| FtpError::invalid("on_chunk is NULL"))?;
        let chunk: ChunkFn = Box::new(move |offset, data: &[u8]| {
            chunk_cb(offset, data.as_ptr(), data.len(), user.get())
        });
        let done = finish(callback, user, unit);
        c.download_stream_async(remote, &opts, chunk, forward(callback, user), done)
    })
}

/// Free a buffer made above (NULL does nothing).
fn free_buffer(buffer: *mut mavftp_buffer) {
    // SAFETY: made by Box::into_raw of an OwnedBuffer whose first field is
    // the view, and freed once (the caller's promise).
    unsafe { free(buffer.cast::<OwnedBuffer>()) }
}

/// Free a buffer from `mavftp_client_download_to_memory`. NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mavftp_buffer_free(buffer: *mut mavftp_buffer) {
    free_buffer(buffer);
}
