//! mavftp: MAVLink FTP (FILE_TRANSFER_PROTOCOL, message 110) client and server,
//! with a C ABI (`include/mavftp.h`).
//!
//! Layers, bottom up:
//! - [`protocol`]: the FTP packet codec, listing format, CRC32 variant, path rules (no I/O);
//! - [`link`]: MAVLink framing over UDP/TCP/serial or an application-owned byte pipe,
//!   heartbeats, and routing of FTP frames to the clients and servers on a link;
//! - [`client`]: the transfer engine (one worker thread per client);
//! - [`server`]: the vehicle side, jailed to a root directory;
//! - `ffi`: the thin `extern "C"` skin.

pub mod client;
mod ffi;
pub mod link;
pub mod protocol;
mod result;
pub mod server;

pub use client::{Client, DirEntry, EntryKind, Listing, Progress};
pub use link::Link;
pub use result::{FtpError, FtpOutcome, FtpResult};
pub use server::Server;
