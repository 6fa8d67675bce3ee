#!/usr/bin/env bash
# The main job on the default models: build the wasm package, index the Rust Book (installed
# by rustup's rust-docs) once, and serve the demo page on 127.0.0.1 (PORT, default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-wasm.sh
bash scripts/stage-www.sh
bash scripts/index-book.sh
echo "Open the URL below in a browser; Ctrl-C stops the server."
exec node scripts/serve.mjs --port "${PORT:-8080}" --book "$(bash scripts/rust-book.sh)"
