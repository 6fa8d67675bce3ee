//! Fuzz target: see `embedder` in fuzz/checks.rs (needs the real embedder's config and
//! tokenizer in models/).
#![no_main]

#[path = "../checks.rs"]
mod checks;

use std::sync::OnceLock;

static FILES: OnceLock<checks::EmbedderFiles> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::embedder(FILES.get_or_init(checks::embedder_files), data));
