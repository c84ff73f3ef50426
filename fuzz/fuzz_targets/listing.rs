//! cargo-fuzz entry point of the `listing` target (tests/fuzz/support/).
#![no_main]

#[path = "../../tests/fuzz/support/mod.rs"]
#[allow(dead_code)] // each target uses one part of the shared module
mod fuzz_support;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_support::listing(data));
