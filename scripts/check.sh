#!/usr/bin/env bash
# Everyday checks in a couple of minutes, no models needed: formatting, clippy on every target
# (warnings are errors), and the library's and CLI's unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --release --all-targets -- -D warnings
echo "== unit tests"
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}" cargo test --release --lib --bins
