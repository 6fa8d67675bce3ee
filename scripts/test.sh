#!/usr/bin/env bash
# Every test: unit tests, integration tests on the real models and the Rust Book, CLI tests.
set -euo pipefail
cd "$(dirname "$0")/.."
book="$(rustc --print sysroot)/share/doc/rust/html/book"
if [ ! -f "$book/ch04-01-what-is-ownership.html" ]; then
  rustup component add rust-docs
fi
bash scripts/models.sh
cargo test --release
