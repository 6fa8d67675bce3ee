#!/usr/bin/env bash
# Builds the demo's index of the Rust Book into www/rust-book.idx with the CLI, only when it is
# missing or unreadable by this build (e.g. after a format version change).
set -euo pipefail
cd "$(dirname "$0")/.."
book="$(bash scripts/rust-book.sh)"
index=www/rust-book.idx
if ! ./target/release/wasmrag search "$index" "ownership" -k 1 >/dev/null 2>&1; then
  echo "Indexing the Rust Book (one to two minutes on 2 cores; done once)..."
  ./target/release/wasmrag index "$book" --out "$index" \
    --exclude print.html --exclude toc.html --exclude '*-edition/**'
fi
