//! `mavftp_result`, `mavftp_result_str`, `mavftp_version`.

use std::ffi::c_char;

use crate::result::FtpResult;

/// Result of every fallible function. Values 0-12 are exactly MAVSDK's
/// `FtpResult` (SUCCESS is 1, not 0); 13 and above are mavftp extensions and
/// are never reused. The type is `int32_t`-sized.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mavftp_result {
    /// Unknown result (also returned when the library caught an internal error;
    /// see `mavftp_client_last_error`).
    Unknown = 0,
    /// The operation succeeded.
    Success = 1,
    /// Intermediate progress report (progress callbacks only); more calls follow.
    Next = 2,
    /// The target stopped answering (after all retries).
    Timeout = 3,
    /// The target or the library is busy.
    Busy = 4,
    /// A local or remote file could not be read or written.
    FileIoError = 5,
    /// The file or directory already exists.
    FileExists = 6,
    /// The file or directory does not exist.
    FileDoesNotExist = 7,
    /// The file or directory is protected (read-only server, permission denied).
    FileProtected = 8,
    /// An argument was invalid: null pointer, invalid UTF-8, remote path over
    /// MAVFTP_MAX_PATH_LEN bytes, id out of range.
    InvalidParameter = 9,
    /// The target does not support this operation.
    Unsupported = 10,
    /// The target answered something the protocol does not allow.
    ProtocolError = 11,
    /// No system was ever heard at the target address.
    NoSystem = 12,
    /// mavftp extension: the operation was cancelled (`mavftp_client_cancel`
    /// or `mavftp_client_free`/`mavftp_link_free` with work in flight).
    Cancelled = 13,
}

impl From<FtpResult> for mavftp_result {
    fn from(r: FtpResult) -> mavftp_result {
        match r {
            FtpResult::Unknown => mavftp_result::Unknown,
            FtpResult::Success => mavftp_result::Success,
            FtpResult::Next => mavftp_result::Next,
            FtpResult::Timeout => mavftp_result::Timeout,
            FtpResult::Busy => mavftp_result::Busy,
            FtpResult::FileIoError => mavftp_result::FileIoError,
            FtpResult::FileExists => mavftp_result::FileExists,
            FtpResult::FileDoesNotExist => mavftp_result::FileDoesNotExist,
            FtpResult::FileProtected => mavftp_result::FileProtected,
            FtpResult::InvalidParameter => mavftp_result::InvalidParameter,
            FtpResult::Unsupported => mavftp_result::Unsupported,
            FtpResult::ProtocolError => mavftp_result::ProtocolError,
            FtpResult::NoSystem => mavftp_result::NoSystem,
            FtpResult::Cancelled => mavftp_result::Cancelled,
        }
    }
}

/// The C side may pass any `int32_t` here, so the value is taken as a plain
/// integer (a Rust enum with an undeclared value would be undefined behaviour);
/// the header still shows `mavftp_result`.
mod raw {
    pub type mavftp_result = i32;
}

/// Static, human-readable text for any value, including values that are not
/// a `mavftp_result` ("unknown result"). Never NULL; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn mavftp_result_str(result: raw::mavftp_result) -> *const c_char {
    FtpResult::from_i32(result)
        .map_or(c"unknown result", FtpResult::as_c_str)
        .as_ptr()
}

/// The library version as a static string, e.g. "0.1.0" (the same as
/// MAVFTP_VERSION_MAJOR.MINOR.PATCH). Never NULL; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn mavftp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
