//! Fuzz target: the Markdown chunker, see `chunk` in fuzz/checks.rs.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::chunk(data, wasmrag::Format::Markdown));
