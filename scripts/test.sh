#!/usr/bin/env bash
# Every test: formatting and clippy, native unit and integration tests on the real models and
# Rust Book pages, the wasm bindings in headless Chromium, and the demo and the runtime end to
# end with playwright-core.
# Installs what they need first (models, wasm32 target, wasm-bindgen-cli, Chromium, lavapipe).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step's heading carries the minutes and seconds since the start, so a slow step shows.
step() { printf '== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
# Chromium, lavapipe and the tests' npm packages (downloads and dpkg, mostly waiting) and the
# wasm-bindgen-cli build install beside lint, which leaves the CPU idle at times on 2 cores.
# rustup's installs come first and alone: two rustup runs must not change one toolchain.
step "rustup components, then lint beside the other installs"
bash scripts/setup-rust.sh
bash scripts/rust-book.sh >/dev/null
installs_log=$(mktemp)
# In a session of their own, so that if lint fails they are stopped with everything they
# started (apt holds dpkg's lock) rather than left running.
setsid bash -c 'bash scripts/setup-browser.sh && bash scripts/setup-gpu.sh && bash scripts/setup-wasm.sh' > "$installs_log" 2>&1 &
installs=$!
trap 'kill -- -"$installs" 2>/dev/null; rm -f "$installs_log"' EXIT
bash scripts/lint.sh
step "waiting for the installs"
wait "$installs" || { cat "$installs_log"; echo "the installs failed" >&2; exit 1; }
cat "$installs_log"
trap - EXIT
rm -f "$installs_log"
step "the wasm package and the CLI, the native tests built beside them"
# The native build and the native tests' build run beside the wasm build, whose whole-program
# optimisation keeps one core busy for minutes; cargo locks each profile's folder, so the
# models' conversion in build-wasm.sh waits for the native CLI rather than building it twice.
native_log=$(mktemp)
setsid bash -c 'cargo build --release && cargo test --release --no-run' > "$native_log" 2>&1 &
native=$!
trap 'kill -- -"$native" 2>/dev/null; rm -f "$native_log"' EXIT
bash scripts/build-wasm.sh
wait "$native" || { cat "$native_log"; echo "the native build failed" >&2; exit 1; }
cat "$native_log"
trap - EXIT
rm -f "$native_log"
bash scripts/build-cli-package.sh
bash scripts/stage-www.sh
step "native tests (the WebGPU engine on lavapipe's Vulkan)"
# make test-full also checks our llama against candle-transformers' (the `oracle` feature).
oracle=()
[ -z "${WASMRAG_FULL_MODELS:-}" ] || oracle=(--features oracle)
WASMRAG_REQUIRE_GPU=1 XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}" cargo test --release "${oracle[@]}"
step "wasm bindings in headless Chromium"
bash scripts/test-wasm.sh
step "benchmark smoke run (tiny inputs, so the bench cannot rot)"
bash scripts/build-wasm.sh --bench
node bench/run.mjs --smoke
step "demo end to end in headless Chromium"
node --test tests/e2e/
step "done"
