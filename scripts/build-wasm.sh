#!/usr/bin/env bash
# Builds the npm package in pkg/: the two .wasm builds and their wasm-bindgen glue (settings in
# wasm-pack.toml), plus the default models as package assets with their SHA-256s. The keyword
# runtime (`<out-name>_keyword`, built without features) serves a page's first results; the
# main one (`models` feature) loads the embedder and the generator.
# With --bench, builds the benchmarks' flavour instead (the `bench` feature's extra classes)
# into target/bench-wasm/, which bench/*.js load; the package is left as it is.
# Installs the wasm32 target and wasm-bindgen-cli (at Cargo.lock's exact version) if missing
# (scripts/setup-rust.sh, scripts/setup-wasm.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

setting() { sed -n "s/^$1 *= *\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" wasm-pack.toml; }
target=$(setting target); out_dir=$(setting out-dir); out_name=$(setting out-name); profile=$(setting profile)
bench=false
if [ "${1:-}" = --bench ]; then
  bench=true
  out_dir=target/bench-wasm
fi
strip=()
[ "$(setting name-section)" = false ] && strip=(--remove-name-section --remove-producers-section)

bash scripts/setup-rust.sh
bash scripts/setup-wasm.sh

# One build of the crate with the given features, bound as $out_dir/$1.js and $1_bg.wasm.
build() {
  local name=$1
  shift
  cargo build --lib --target wasm32-unknown-unknown --no-default-features "$@" --profile "$profile"
  wasm-bindgen --target "$target" --out-dir "$out_dir" --out-name "$name" "${strip[@]}" \
    "target/wasm32-unknown-unknown/$profile/wasmrag.wasm"
}

if $bench; then
  build "$out_name" --features bench
  exit 0
fi
build "${out_name}_keyword"
build "$out_name" --features models

# Default models as package assets (hard links: no second copy on disk).
bash scripts/models.sh
node scripts/package-models.mjs models pkg/models
