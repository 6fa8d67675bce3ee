#!/usr/bin/env bash
# Browser benchmarks, wasmrag beside its peers in headless Chromium (numbers, not pass/fail).
# Served with COOP/COEP so multi-threaded peers can use both cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-browser.sh
bash scripts/build-wasm.sh
bash scripts/build-wasm.sh --bench
node bench/run.mjs --isolate "$@"
