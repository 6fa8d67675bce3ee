#!/usr/bin/env bash
# The wasm bindings' tests (tests/wasm.rs) and the WebGPU engine's (its module tests/wasm/gpu.rs, on
# SwiftShader via --enable-unsafe-webgpu in webdriver.json) in headless Chromium through
# Debian's chromedriver, against fixtures made by the native CLI and served from 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
book="$(bash scripts/rust-book.sh)"
fixture=target/wasm-fixture
rm -rf "$fixture" && mkdir -p "$fixture/pages"
cp "$book"/ch04-01-what-is-ownership.html "$book"/ch04-02-references-and-borrowing.html "$book"/ch08-03-hash-maps.html "$fixture/pages/"
# The index and a search with the f32 embedder (a models folder without the int8 weights, which
# the CLI would take), which the browser must reproduce on the same weights.
f32_models="$fixture/f32-models/all-MiniLM-L6-v2"
mkdir -p "$f32_models"
ln -s "$PWD"/models/all-MiniLM-L6-v2/{config.json,tokenizer.json,model.safetensors} "$f32_models/"
./target/release/wasmrag --models "$fixture/f32-models" index "$fixture/pages" --out "$fixture/fixture.idx"
./target/release/wasmrag --models "$fixture/f32-models" search "$fixture/fixture.idx" "What is ownership?" -k 5 --json > "$fixture/expected.json"
# The same search with the int8 embedder natively, which the browser's SIMD kernel must reproduce.
./target/release/wasmrag --models models search "$fixture/fixture.idx" "What is ownership?" -k 5 --json > "$fixture/expected-int8.json"

log=$(mktemp)
node scripts/serve.mjs --port 0 > "$log" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do grep -q serving "$log" && break; sleep 0.1; done
base=$(sed -n 's|serving \(http://127.0.0.1:[0-9]*\)/www/|\1|p' "$log")

export WASMRAG_FIXTURES="$base"
export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=600
# The package's own profile: its dependencies are already built by scripts/build-wasm.sh (a
# second profile would build them all again, about a minute and a half more on 2 cores), and
# the bench flavour built next reuses this build's library.
cargo test --profile wasm-release --target wasm32-unknown-unknown --no-default-features --features bench --test wasm
