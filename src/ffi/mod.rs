//! The C ABI (see include/mavftp.h): one module per C type, plus the shared
//! plumbing in `boundary`. Every `extern "C"` function checks its arguments,
//! calls the Rust API and converts the outcome; no logic lives here.

#![allow(non_camel_case_types)]

mod boundary;
pub mod client;
pub mod link;
pub mod list;
mod result;
pub mod server;
pub mod transfer;
