#!/usr/bin/env bash
# wasm-bindgen-cli at Cargo.lock's exact version, built from crates.io once (a few minutes) and
# kept in ~/.cargo/bin. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$version" ]; then
  echo "Installing wasm-bindgen-cli $version (once, a few minutes)..."
  cargo install wasm-bindgen-cli --version "$version"
fi
