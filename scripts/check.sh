#!/usr/bin/env bash
# Everyday checks in a couple of minutes, no models needed: formatting, clippy on every target
# (warnings are errors), and the library's and CLI's unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/lint.sh
echo "== unit tests"
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}" cargo test --release --lib --bins
