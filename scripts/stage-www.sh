#!/usr/bin/env bash
# Installs the built npm package into the demo site as www/pkg (hard links, so the models are
# not copied), the way a site ships the package inside its own tree. Keeping it under www/
# puts the worker inside the demo's service-worker scope, which offline reloads need.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f pkg/wasm/wasmrag_bg.wasm ] || { echo "pkg/ is not built: run scripts/build-wasm.sh" >&2; exit 1; }
rm -rf www/pkg
mkdir -p www/pkg
cp -al pkg/. www/pkg/ 2>/dev/null || cp -a pkg/. www/pkg/
