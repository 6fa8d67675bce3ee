#!/usr/bin/env bash
# Puts the native CLI (release build, stripped) into the linux-x64 platform package,
# pkg/platform/linux-x64, which `npx wasmrag` runs; other platforms are built the same way on
# their own machines (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin wasmrag
install -m 755 -s target/release/wasmrag pkg/platform/linux-x64/wasmrag
