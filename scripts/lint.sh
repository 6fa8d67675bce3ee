#!/usr/bin/env bash
# Formatting and clippy (warnings are errors) on every native target and on the wasm build,
# whose bindings (src/wasm.rs) only compile for wasm32. Installs the components if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-rust.sh
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --release --all-targets -- -D warnings
echo "== cargo clippy (wasm32: the package's keyword and main runtimes, then with the bench classes and the browser tests) -- -D warnings"
cargo clippy --release --target wasm32-unknown-unknown --no-default-features --lib -- -D warnings
cargo clippy --release --target wasm32-unknown-unknown --no-default-features --features models --lib -- -D warnings
cargo clippy --release --target wasm32-unknown-unknown --no-default-features --features bench --lib --test wasm -- -D warnings
