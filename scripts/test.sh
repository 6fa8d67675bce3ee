#!/usr/bin/env bash
# Every test: formatting and clippy, native unit and integration tests on the real models and
# Rust Book pages, the wasm bindings in headless Chromium, and the demo and the runtime end to
# end with playwright-core.
# Installs what they need first (models, wasm32 target, wasm-bindgen-cli, Chromium, lavapipe).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/lint.sh
bash scripts/rust-book.sh >/dev/null
bash scripts/setup-browser.sh
bash scripts/setup-gpu.sh
bash scripts/build-wasm.sh
bash scripts/build-cli-package.sh
bash scripts/stage-www.sh
echo "== native tests (the WebGPU engine on lavapipe's Vulkan)"
WASMRAG_REQUIRE_GPU=1 XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}" cargo test --release
echo "== wasm bindings in headless Chromium"
bash scripts/test-wasm.sh
echo "== benchmark smoke run (tiny inputs, so the bench cannot rot)"
bash scripts/build-wasm.sh --bench
node bench/run.mjs --smoke
echo "== demo end to end in headless Chromium"
node --test tests/e2e/
