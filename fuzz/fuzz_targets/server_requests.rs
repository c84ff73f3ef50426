//! cargo-fuzz entry point of the `server_requests` target (tests/fuzz_support/).
#![no_main]

#[path = "../../tests/fuzz_support/mod.rs"]
mod fuzz_support;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_support::server_requests(data));
