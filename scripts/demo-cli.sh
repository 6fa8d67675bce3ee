#!/usr/bin/env bash
# The same job from the terminal: index the Rust Book, then search it and ask a question.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/models.sh
book="$(rustc --print sysroot)/share/doc/rust/html/book"
[ -f "$book/index.html" ] || rustup component add rust-docs
index=www/rust-book.idx
# Rebuilt only when missing or unreadable by this build (e.g. after a format version change).
if ! ./target/release/wasmrag search "$index" "ownership" -k 1 >/dev/null 2>&1; then
  ./target/release/wasmrag index "$book" --out "$index" \
    --exclude print.html --exclude toc.html --exclude '*-edition/**'
fi
question="${1:-How do I borrow a value mutably?}"
echo "\$ wasmrag search $index \"$question\" -k 3"
./target/release/wasmrag search "$index" "$question" -k 3
echo "\$ wasmrag ask $index \"$question\""
./target/release/wasmrag ask "$index" "$question"
