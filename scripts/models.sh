#!/usr/bin/env bash
# Builds the CLI and sets up the default models in models/ (cached in ~/.cache/wasmrag;
# idempotent, offline after the first run).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
./target/release/wasmrag models
