//! Fuzz target: see `tokenizer` in fuzz/checks.rs (needs the real embedder in models/).
#![no_main]

#[path = "../checks.rs"]
mod checks;

use std::sync::OnceLock;

static EMBEDDER: OnceLock<wasmrag::Embedder> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::tokenizer(EMBEDDER.get_or_init(checks::load_embedder), data));
