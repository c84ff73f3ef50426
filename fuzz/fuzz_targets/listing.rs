//! cargo-fuzz entry point of the `listing` target (tests/fuzz_support/).
#![no_main]

#[path = "../../tests/fuzz_support/mod.rs"]
mod fuzz_support;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_support::listing(data));
