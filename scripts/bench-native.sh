#!/usr/bin/env bash
# Native speed of each stage beside its baseline (medians); numbers, not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/models.sh
cargo bench --bench native
