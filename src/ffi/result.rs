//! `mavftp_result` (the crate's [`FtpResult`], exported under its C name by
//! cbindgen.toml), `mavftp_result_str`, `mavftp_version`.

use std::ffi::c_char;

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

/// The library version as a static string, e.g. "0.1.0" (the same as
/// MAVFTP_VERSION_MAJOR.MINOR.PATCH). Never NULL; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn mavftp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
