//! Result codes shared by the Rust API and the C ABI.

use std::ffi::CStr;
use std::fmt;

/// Result of every fallible function: `mavftp_result` in C, `FtpResult` in
/// the Rust API (one type; cbindgen exports it under its C name). Values
/// 0-12 are exactly MAVSDK's `FtpResult` (SUCCESS is 1, not 0); 13 and
/// above are mavftp extensions and are never reused. The type is
/// `int32_t`-sized.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FtpResult {
    /// Unknown result (also returned when the library caught an internal
    /// error; the detail says which).
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

impl FtpResult {
    /// Static human-readable text for this result.
    pub fn as_str(self) -> &'static str {
        self.as_c_str().to_str().unwrap_or_default()
    }

    /// The same text as a NUL-terminated C string (what `mavftp_result_str` returns).
    pub fn as_c_str(self) -> &'static CStr {
        match self {
            FtpResult::Unknown => c"unknown",
            FtpResult::Success => c"success",
            FtpResult::Next => c"next (in progress)",
            FtpResult::Timeout => c"timeout",
            FtpResult::Busy => c"busy",
            FtpResult::FileIoError => c"file I/O error",
            FtpResult::FileExists => c"file exists",
            FtpResult::FileDoesNotExist => c"file does not exist",
            FtpResult::FileProtected => c"file protected",
            FtpResult::InvalidParameter => c"invalid parameter",
            FtpResult::Unsupported => c"unsupported",
            FtpResult::ProtocolError => c"protocol error",
            FtpResult::NoSystem => c"no system",
            FtpResult::Cancelled => c"cancelled",
        }
    }

    /// `Success` for an `Ok`, the error's result otherwise.
    pub fn of<T>(outcome: &FtpOutcome<T>) -> FtpResult {
        match outcome {
            Ok(_) => FtpResult::Success,
            Err(e) => e.result,
        }
    }

    /// The result with this numeric value, if any.
    pub fn from_i32(value: i32) -> Option<FtpResult> {
        use FtpResult::*;
        const ALL: [FtpResult; 14] = [
            Unknown,
            Success,
            Next,
            Timeout,
            Busy,
            FileIoError,
            FileExists,
            FileDoesNotExist,
            FileProtected,
            InvalidParameter,
            Unsupported,
            ProtocolError,
            NoSystem,
            Cancelled,
        ];
        ALL.iter().copied().find(|r| *r as i32 == value)
    }
}

impl fmt::Display for FtpResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed operation: the result code plus a sentence saying what went wrong
/// (which path, which NAK code, which errno).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpError {
    /// The code a C caller sees. Never `Success` or `Next`.
    pub result: FtpResult,
    /// Human-readable detail.
    pub message: String,
}

impl FtpError {
    /// An error with `result` and a detail message.
    pub fn new(result: FtpResult, message: impl Into<String>) -> FtpError {
        FtpError {
            result,
            message: message.into(),
        }
    }

    /// Shorthand for an `InvalidParameter` error.
    pub fn invalid(message: impl Into<String>) -> FtpError {
        FtpError::new(FtpResult::InvalidParameter, message)
    }

    /// A local I/O failure, keeping the OS error text.
    pub fn io(context: impl fmt::Display, err: &std::io::Error) -> FtpError {
        FtpError::new(FtpResult::FileIoError, format!("{context}: {err}"))
    }
}

impl fmt::Display for FtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.result, self.message)
    }
}

impl std::error::Error for FtpError {}

/// Result type of every fallible operation in this crate.
pub type FtpOutcome<T> = Result<T, FtpError>;

/// The detail of the last failure, as text: one per client (its operations
/// and, through the C ABI, every call on it) and, in the C ABI, one per
/// thread for calls that have no client (`src/ffi/boundary.rs`).
#[derive(Debug, Default)]
pub(crate) struct LastError(parking_lot::Mutex<Option<String>>);

impl LastError {
    /// Keep `detail` as the last failure.
    pub(crate) fn set(&self, detail: &str) {
        *self.0.lock() = Some(detail.to_string());
    }

    /// The last failure, if any.
    pub(crate) fn get(&self) -> Option<String> {
        self.0.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::FtpResult;

    /// The C ABI's values: MAVSDK's FtpResult 0-12, then our extension 13.
    #[test]
    fn values_are_mavsdks_then_cancelled() {
        let names = [
            "unknown",
            "success",
            "next (in progress)",
            "timeout",
            "busy",
            "file I/O error",
            "file exists",
            "file does not exist",
            "file protected",
            "invalid parameter",
            "unsupported",
            "protocol error",
            "no system",
            "cancelled",
        ];
        for (value, name) in names.iter().enumerate() {
            let r = FtpResult::from_i32(value as i32).expect("declared value");
            assert_eq!(r as i32, value as i32);
            assert_eq!(r.as_str(), *name);
        }
        assert_eq!(FtpResult::Success as i32, 1);
        assert_eq!(FtpResult::Cancelled as i32, 13);
        assert_eq!(FtpResult::from_i32(14), None);
        assert_eq!(FtpResult::from_i32(-1), None);
    }
}
