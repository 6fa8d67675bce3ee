#!/usr/bin/env bash
# The main job on the default models: index the Rust Book (installed by rustup's rust-docs)
# once, then search it and answer a question from it with citations.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/models.sh
book="$(rustc --print sysroot)/share/doc/rust/html/book"
if [ ! -f "$book/index.html" ]; then
  rustup component add rust-docs
fi
index=target/demo/rust-book.idx
mkdir -p target/demo
if [ ! -f "$index" ] || [ target/release/wasmrag -nt "$index" ]; then
  echo "Indexing the Rust Book (a few minutes on 2 cores; done once)..."
  ./target/release/wasmrag index "$book" --out "$index" \
    --exclude print.html --exclude toc.html --exclude '*-edition/**'
fi
question="${1:-How do I borrow a value mutably?}"
echo
echo "\$ wasmrag search $index \"$question\" -k 3"
./target/release/wasmrag search "$index" "$question" -k 3
echo "\$ wasmrag ask $index \"$question\""
./target/release/wasmrag ask "$index" "$question"
