//! Shared helpers for the tests that run in headless Chromium: fetching fixtures and models
//! from the 127.0.0.1 server that scripts/test-wasm.sh starts.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Base URL of the fixture server, fixed at build time by scripts/test-wasm.sh (a run-time
/// message, rather than `env!`'s build error, says how to run these tests).
#[allow(clippy::option_env_unwrap)]
pub fn base() -> &'static str {
    option_env!("WASMRAG_FIXTURES").expect("WASMRAG_FIXTURES is unset: run scripts/test-wasm.sh")
}

/// The bytes of `path` on the fixture server (the repository root).
pub async fn fetch(path: &str) -> Vec<u8> {
    let window = web_sys::window().expect("window");
    let url = format!("{}/{path}", base());
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url)).await.expect("fetch").dyn_into().expect("response");
    assert!(response.ok(), "{url}: HTTP {}", response.status());
    let buffer = JsFuture::from(response.array_buffer().expect("body")).await.expect("bytes");
    js_sys::Uint8Array::new(&buffer).to_vec()
}
