//! `mavftp_result` (the crate's [`FtpResult`], exported under its C name by
//! cbindgen.toml), `mavftp_result_str`, `mavftp_last_error`, `mavftp_version`.

use std::ffi::c_char;

use super::boundary::{error_to_c, this_thread_error};
use crate::result::FtpResult;

/// The C side may pass any `int32_t` here, so the value is taken as a plain
/// integer (a Rust enum with an undeclared value would be undefined behaviour);
/// the header still shows `mavftp_result`.
///
/// cbindgen:ignore
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

/// Detail of the calling thread's last failure as text, for the calls that
/// have no client to keep it: every `mavftp_link_*` and `mavftp_server_*`
/// function, `mavftp_client_new`, and any call given a NULL client. "" when
/// none failed in this thread yet; never NULL. A client's own failures,
/// blocking or `_async`, are kept by the client: `mavftp_client_last_error`.
/// The string belongs to the library and stays valid until the next
/// `mavftp_last_error` or `mavftp_client_last_error` call from the same
/// thread.
#[unsafe(no_mangle)]
pub extern "C" fn mavftp_last_error() -> *const c_char {
    let detail = std::panic::catch_unwind(this_thread_error);
    error_to_c(detail.unwrap_or_default())
}

/// The library version as a static string, e.g. "0.1.0" (the same as
/// MAVFTP_VERSION_MAJOR.MINOR.PATCH). Never NULL; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn mavftp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
