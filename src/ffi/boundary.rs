//! Shared plumbing of the C boundary: panic catching, argument checks,
//! the user_data carrier.

use std::ffi::{CStr, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use crate::result::{FtpError, FtpResult};

/// Longest remote path in bytes, without its NUL (a packet's 239 data bytes
/// hold the path and the NUL). A longer path gives INVALID_PARAMETER.
pub const MAVFTP_MAX_PATH_LEN: usize = 238;
const _: () = assert!(MAVFTP_MAX_PATH_LEN == crate::protocol::MAX_PATH_LEN);

/// Run an extern function body and map its outcome to a code. A failure's
/// detail goes to `record` (so that `mavftp_client_last_error` can say what
/// happened); a panic is caught here and becomes `UNKNOWN`: an internal bug is
/// not a protocol error, and UNKNOWN is what MAVSDK uses for "cannot say".
pub fn guard(
    record: impl FnOnce(String),
    body: impl FnOnce() -> Result<(), FtpError>,
) -> FtpResult {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => FtpResult::Success,
        Ok(Err(e)) => {
            let code = e.result;
            record(e.message);
            code
        }
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            record(format!("internal error (caught panic): {text}"));
            FtpResult::Unknown
        }
    }
}

/// Run a body whose result has nowhere to go (free functions, callbacks).
pub fn guard_void(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// A required pointer.
pub fn non_null<'a, T>(p: *const T, what: &str) -> Result<&'a T, FtpError> {
    // SAFETY: the C caller promises that a non-null pointer is valid.
    unsafe { p.as_ref() }.ok_or_else(|| FtpError::invalid(format!("{what} is NULL")))
}

/// A NUL-terminated UTF-8 string argument.
pub fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, FtpError> {
    if p.is_null() {
        return Err(FtpError::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the C caller promises a NUL-terminated string.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|_| FtpError::invalid(format!("{what} is not valid UTF-8")))
}

/// A remote path: UTF-8, 1 to 238 bytes.
pub fn remote_path<'a>(p: *const c_char, what: &str) -> Result<&'a str, FtpError> {
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
pub fn local_path(p: *const c_char, what: &str) -> Result<PathBuf, FtpError> {
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

/// A required out-parameter.
pub fn out_ptr<T>(p: *mut T, what: &str) -> Result<*mut T, FtpError> {
    if p.is_null() {
        Err(FtpError::invalid(format!("{what} is NULL")))
    } else {
        Ok(p)
    }
}

/// The caller's `void *user_data`, carried to the worker thread untouched.
#[derive(Clone, Copy)]
pub struct UserData(pub *mut c_void);

// SAFETY: the pointer is never dereferenced by us, only handed back to the
// caller's callback; the header tells callers that callbacks run on the
// library's threads.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    /// The raw pointer (a method, so closures capture the whole Send wrapper).
    pub fn get(self) -> *mut c_void {
        self.0
    }
}
