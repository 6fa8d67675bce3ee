//! Fuzz target: see `shards` in fuzz/checks.rs.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::shards(data));
