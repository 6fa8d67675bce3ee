#!/usr/bin/env bash
# Inputs of the browser benchmarks, built once and cached under target/bench (idempotent):
#  - the ONNX graph of all-MiniLM-L6-v2 that transformers.js runs, made from the same
#    models/ safetensors by bench/make_onnx.py (in a venv with pinned `onnx` and `numpy`), and
#    its dynamically quantized q8 version (bench/quantize_onnx.py, pinned `onnxruntime`),
#    transformers.js's default on WebAssembly;
#  - SciFact sentences and test queries embedded by `wasmrag embed`, for the vector-search row.
# Usage: bench/prepare.sh [number of sentences, default 20000]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-20000}
out=target/bench
mkdir -p "$out"
onnx=$out/models/all-MiniLM-L6-v2/onnx/model.onnx
if [ ! -f "$onnx" ] || [ models/all-MiniLM-L6-v2/model.safetensors -nt "$onnx" ] || [ bench/make_onnx.py -nt "$onnx" ]; then
  # A venv where python3-venv exists, else a private --target folder on PYTHONPATH.
  if [ -x "$out/venv/bin/python" ] || python3 -m venv "$out/venv" 2>/dev/null; then
    "$out/venv/bin/python" -m pip install -q --disable-pip-version-check onnx==1.23.2 numpy==2.4.6
    "$out/venv/bin/python" bench/make_onnx.py models/all-MiniLM-L6-v2 "$out/models/all-MiniLM-L6-v2"
  else
    rm -rf "$out/venv"
    python3 -m pip install -q --disable-pip-version-check --target "$out/pylib" onnx==1.23.2 numpy==2.4.6
    PYTHONPATH="$out/pylib" python3 bench/make_onnx.py models/all-MiniLM-L6-v2 "$out/models/all-MiniLM-L6-v2"
  fi
fi
quantized=$out/models/all-MiniLM-L6-v2/onnx/model_quantized.onnx
if [ ! -f "$quantized" ] || [ "$onnx" -nt "$quantized" ] || [ bench/quantize_onnx.py -nt "$quantized" ]; then
  if [ -x "$out/venv/bin/python" ]; then
    "$out/venv/bin/python" -m pip install -q --disable-pip-version-check onnxruntime==1.32.0
    "$out/venv/bin/python" bench/quantize_onnx.py "$out/models/all-MiniLM-L6-v2"
  else
    python3 -m pip install -q --disable-pip-version-check --target "$out/pylib" onnxruntime==1.32.0
    PYTHONPATH="$out/pylib" python3 bench/quantize_onnx.py "$out/models/all-MiniLM-L6-v2"
  fi
fi
vectors=$out/scifact-$count.f32
if [ ! -f "$vectors" ] || [ ! -f "$out/scifact-queries.f32" ]; then
  node bench/scifact-texts.mjs "${WASMRAG_SCIFACT:-../shared/eval/scifact}" "$out" "$count"
  ./target/release/wasmrag embed "$out/scifact-queries.txt" --out "$out/scifact-queries.f32"
  ./target/release/wasmrag embed "$out/scifact-sentences.txt" --out "$vectors"
fi
