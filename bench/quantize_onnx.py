"""Writes transformers.js's default WebAssembly model for the embedding row: `model_quantized.onnx`
(what its `dtype: "q8"` loads), made from the fp32 graph of bench/make_onnx.py with
onnxruntime's dynamic quantization, the way the published file is made (8-bit weights, one
scale per tensor, activations quantized at run time).

Usage: python bench/quantize_onnx.py MODEL_DIR   (reads and writes MODEL_DIR/onnx/)
"""
import sys
from pathlib import Path

from onnxruntime.quantization import QuantType, quantize_dynamic

onnx_dir = Path(sys.argv[1]) / "onnx"
quantize_dynamic(str(onnx_dir / "model.onnx"), str(onnx_dir / "model_quantized.onnx"), weight_type=QuantType.QUInt8)
print(f"wrote {onnx_dir / 'model_quantized.onnx'} ({(onnx_dir / 'model_quantized.onnx').stat().st_size} bytes)")
