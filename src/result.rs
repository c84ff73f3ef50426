//! Result codes shared by the Rust API and the C ABI.

use std::ffi::CStr;
use std::fmt;

/// Outcome of an FTP operation. Values 0–12 are exactly MAVSDK's `FtpResult`;
/// 13 and above are mavftp extensions and are never reused.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FtpResult {
    /// Unknown result.
    Unknown = 0,
    /// The operation succeeded.
    Success = 1,
    /// Intermediate progress report; more calls follow.
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
    /// The file or directory is protected (read-only, permission denied).
    FileProtected = 8,
    /// An argument was invalid (null pointer, bad UTF-8, over-long path, id out of range).
    InvalidParameter = 9,
    /// The target does not support this operation.
    Unsupported = 10,
    /// The target answered something the protocol does not allow.
    ProtocolError = 11,
    /// No system was heard at the target address.
    NoSystem = 12,
    /// mavftp extension: the operation was cancelled (cancel or free).
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
