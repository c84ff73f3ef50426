//! The plumbing every `extern "C"` function shares: the guard (panics caught,
//! a failure's detail kept in the last-error store), the handle helpers
//! (out-parameter, borrow, free), argument checks, the user_data carrier.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use crate::result::{FtpError, FtpOutcome, FtpResult, LastError};

/// Longest remote path in bytes, without its NUL (a packet's 239 data bytes
/// hold the path and the NUL). A longer path gives INVALID_PARAMETER.
pub const MAVFTP_MAX_PATH_LEN: usize = 238;
const _: () = assert!(MAVFTP_MAX_PATH_LEN == crate::protocol::MAX_PATH_LEN);

// Where a failure's detail is kept (the last-error store, `LastError`):
// in the client a call was made on, the one store of that client (its
// operations fail on its worker thread, and applications read the detail
// from whichever thread handles the result: a GUI thread, an event loop),
// else in the calling thread (link, server and constructor calls return in
// that thread, so another thread's failure cannot overwrite the detail
// before the caller reads it). See "Errors" in the header.

thread_local! {
    /// The store of calls that have no client to keep their detail.
    static THIS_THREAD: LastError = LastError::default();
    /// Backing store of the strings the `*last_error` functions return.
    static RETURNED: RefCell<CString> = RefCell::new(CString::default());
}

/// The calling thread's last failure (calls without a client), if any.
pub(super) fn this_thread_error() -> Option<String> {
    THIS_THREAD.with(LastError::get)
}

/// Hand a last failure to C: a copy in the calling thread's buffer, valid
/// until its next `*last_error` call (the stored text may change under
/// another thread meanwhile); "" for none.
pub(super) fn error_to_c(detail: Option<String>) -> *const c_char {
    let bytes: Vec<u8> = detail
        .unwrap_or_default()
        .into_bytes()
        .into_iter()
        .filter(|b| *b != 0)
        .collect();
    let text = CString::new(bytes).unwrap_or_default();
    RETURNED.with(|cell| {
        *cell.borrow_mut() = text;
        cell.borrow().as_ptr()
    })
}

/// Run an extern function's body and map its outcome to a code. A failure's
/// detail goes to `store` (the calling thread's when None); a panic is caught
/// here and becomes `UNKNOWN`: an internal bug is not a protocol error, and
/// UNKNOWN is what MAVSDK uses for "cannot say".
pub(super) fn guard(store: Option<&LastError>, body: impl FnOnce() -> FtpOutcome<()>) -> FtpResult {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return FtpResult::Success,
        Ok(Err(e)) => e,
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            FtpError::new(
                FtpResult::Unknown,
                format!("internal error (caught panic): {text}"),
            )
        }
    };
    match store {
        Some(store) => store.set(&failure.message),
        None => THIS_THREAD.with(|store| store.set(&failure.message)),
    }
    failure.result
}

/// Run a body whose result has nowhere to go (free functions, callbacks).
pub(super) fn guard_void(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

// --- Handles: every C object is a `Box` handed out with `Out::put_handle`,
// borrowed with `borrow` and dropped with `free` (its Drop does any closing).

/// A handle (or other required pointer) the caller passed: borrowed for the
/// call; INVALID_PARAMETER for NULL.
pub(super) fn borrow<'a, T>(handle: *const T, what: &str) -> FtpOutcome<&'a T> {
    // SAFETY: the C caller promises that a non-null handle is one we made
    // and has not freed, or a valid object of the declared type.
    unsafe { handle.as_ref() }.ok_or_else(|| FtpError::invalid(format!("{what} is NULL")))
}

/// An out-parameter: checked before the call does any work (a NULL one
/// gives INVALID_PARAMETER) and written only on success.
pub(super) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// The checked out-parameter `p`, named `what` in the error detail.
    pub(super) fn new(p: *mut T, what: &str) -> FtpOutcome<Out<T>> {
        if p.is_null() {
            Err(FtpError::invalid(format!("{what} is NULL")))
        } else {
            Ok(Out(p))
        }
    }

    /// Write the value (whatever the slot held is not read or dropped).
    pub(super) fn put(self, value: T) {
        // SAFETY: non-null (checked in `new`), and the C caller provides a
        // writable, aligned slot of this type.
        unsafe { self.0.write(value) }
    }
}

impl<H> Out<*mut H> {
    /// Hand `object` to C as a new handle, to be freed with [`free`].
    pub(super) fn put_handle(self, object: H) {
        self.put(Box::into_raw(Box::new(object)));
    }
}

/// Free a handle made by [`Out::put_handle`]: drop the object; NULL does
/// nothing; a panic while dropping is contained.
///
/// # Safety
/// `handle` is NULL or a handle of this type that was not freed yet.
pub(super) unsafe fn free<H>(handle: *mut H) {
    if handle.is_null() {
        return;
    }
    guard_void(|| {
        // SAFETY: a non-null handle came from Box::into_raw in put_handle
        // (the caller's promise) and is freed once.
        drop(unsafe { Box::from_raw(handle) });
    });
}

// --- Arguments

/// A NUL-terminated UTF-8 string argument.
pub(super) fn c_str<'a>(p: *const c_char, what: &str) -> FtpOutcome<&'a str> {
    if p.is_null() {
        return Err(FtpError::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the C caller promises a NUL-terminated string.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|_| FtpError::invalid(format!("{what} is not valid UTF-8")))
}

/// A remote path: UTF-8, 1 to 238 bytes.
pub(super) fn remote_path<'a>(p: *const c_char, what: &str) -> FtpOutcome<&'a str> {
    let s = c_str(p, what)?;
    if s.is_empty() {
        return Err(FtpError::invalid(format!("{what} is empty")));
    }
    if s.len() > MAVFTP_MAX_PATH_LEN {
        return Err(FtpError::invalid(format!(
            "{what} is {} bytes long; at most {MAVFTP_MAX_PATH_LEN} fit in a packet",
            s.len()
        )));
    }
    Ok(s)
}

/// A local path: any non-empty bytes (local file names need not be UTF-8).
pub(super) fn local_path(p: *const c_char, what: &str) -> FtpOutcome<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if p.is_null() {
        return Err(FtpError::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the C caller promises a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    if bytes.is_empty() {
        return Err(FtpError::invalid(format!("{what} is empty")));
    }
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
}

/// The caller's `void *user_data`, carried to the worker thread untouched.
#[derive(Clone, Copy)]
pub(super) struct UserData(pub(super) *mut c_void);

// SAFETY: the pointer is never dereferenced by us, only handed back to the
// caller's callback; the header tells callers that callbacks run on the
// library's threads.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    /// The raw pointer (a method, so closures capture the whole Send wrapper).
    pub(super) fn get(self) -> *mut c_void {
        self.0
    }
}
