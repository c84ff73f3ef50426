//! Fuzz targets shared by the stable seeded mutation driver
//! (tests/fuzz/mutation.rs) and the cargo-fuzz crate (fuzz/, which includes
//! this directory by path). Each target takes arbitrary bytes and panics when
//! an invariant breaks; the module docs of each target say which.

pub mod client;
pub mod codec;
pub mod input;
pub mod seeds;
pub mod server;
pub mod wire;

pub use client::client_replies;
pub use codec::{frame_parser, ftp_packet, listing};
pub use server::server_requests;

/// A target: arbitrary bytes in, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target with its name (as in fuzz/fuzz_targets/), seeds and the
/// longest input worth generating.
pub fn targets() -> Vec<(&'static str, Target, Vec<Vec<u8>>, usize)> {
    vec![
        (
            "frame_parser",
            frame_parser as Target,
            seeds::frame_seeds(),
            4096,
        ),
        (
            "ftp_packet",
            ftp_packet as Target,
            seeds::packet_seeds(),
            300,
        ),
        ("listing", listing as Target, seeds::listing_seeds(), 1024),
        (
            "server_requests",
            server_requests as Target,
            seeds::server_seeds(),
            8192,
        ),
        (
            "client_replies",
            client_replies as Target,
            seeds::client_seeds(),
            2048,
        ),
    ]
}
