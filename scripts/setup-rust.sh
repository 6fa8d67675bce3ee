#!/usr/bin/env bash
# The rustup components and target the builds and lints use: rustfmt, clippy and
# wasm32-unknown-unknown. Idempotent; installs only what is missing.
set -euo pipefail
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
