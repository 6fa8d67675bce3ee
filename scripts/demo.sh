#!/usr/bin/env bash
# The main job on the default models: build the wasm package, index the Rust Book (installed
# by rustup's rust-docs) once, and serve the demo page on 127.0.0.1 (PORT, default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
book="$(rustc --print sysroot)/share/doc/rust/html/book"
[ -f "$book/index.html" ] || rustup component add rust-docs
bash scripts/build-wasm.sh
bash scripts/stage-www.sh
index=www/rust-book.idx
# Rebuilt only when missing or unreadable by this build (e.g. after a format version change).
if ! ./target/release/wasmrag search "$index" "ownership" -k 1 >/dev/null 2>&1; then
  echo "Indexing the Rust Book (a few minutes on 2 cores; done once)..."
  ./target/release/wasmrag index "$book" --out "$index" \
    --exclude print.html --exclude toc.html --exclude '*-edition/**'
fi
echo "Open the URL below in a browser; Ctrl-C stops the server."
exec node scripts/serve.mjs --port "${PORT:-8080}" --book "$book"
