#!/usr/bin/env bash
# The same job from the terminal: index the Rust Book, then search it and ask a question.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/models.sh
bash scripts/index-book.sh
index=www/rust-book.idx
question="${1:-How do I borrow a value mutably?}"
echo "\$ wasmrag search $index \"$question\" -k 3"
./target/release/wasmrag search "$index" "$question" -k 3
echo "\$ wasmrag ask $index \"$question\""
./target/release/wasmrag ask "$index" "$question"
