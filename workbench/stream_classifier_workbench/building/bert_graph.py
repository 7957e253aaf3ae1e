"""The ONNX graph of a BERT encoder with mean pooling and L2 normalization, written straight
from numpy weights with onnx's helper API: no torch.

The nodes are those torch.onnx.export traces from a transformers BertModel (eager attention)
wrapped in the embedding head (mean over the attention mask, then L2), in the same order, so
the fp32 outputs match the torch export's (a test checks 1e-5 on 300 real texts). Nodes are
named after the module path the export uses (`/encoder/layer.{i}/attention/self/query/MatMul`,
...): the per-token quantizer's refine patterns (`*layer.{i}/*`) pick the same MatMuls, and
every linear layer is a MatMul by a constant [in, out] initializer followed by its bias Add,
which is what the quantizer rewrites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # what opset 17 needs; readable by every onnxruntime the project allows
MASKED = np.float32(np.finfo(np.float32).min)  # transformers' additive mask for a padded key


@dataclass(frozen=True)
class BertShape:
    hidden: int
    layers: int
    heads: int
    ffn: int
    eps: float


class _Graph:
    """Nodes and initializers under construction; every node output is named after its node."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []

    def init(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def const(self, name: str, value, dtype) -> str:
        return self.init(name, np.array(value, dtype=dtype))

    def op(self, op_type: str, name: str, inputs: list[str], **attrs) -> str:
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        return out


def _linear(g: _Graph, x: str, weights: dict[str, np.ndarray], module: str, path: str) -> str:
    """x @ W.T + b for a torch Linear `module` ([out, in] weight), as MatMul then Add."""
    w = g.init(f"{module}.weight.T", weights[f"{module}.weight"].astype(np.float32).T)
    b = g.init(f"{module}.bias", weights[f"{module}.bias"].astype(np.float32))
    y = g.op("MatMul", f"{path}/MatMul", [x, w])
    return g.op("Add", f"{path}/Add", [b, y])


def _layer_norm(g: _Graph, x: str, weights: dict[str, np.ndarray], module: str, path: str, eps: float) -> str:
    scale = g.init(f"{module}.weight", weights[f"{module}.weight"].astype(np.float32))
    bias = g.init(f"{module}.bias", weights[f"{module}.bias"].astype(np.float32))
    return g.op("LayerNormalization", f"{path}/LayerNormalization", [x, scale, bias], axis=-1, epsilon=eps)


def _attention(g: _Graph, x: str, mask_bias: str, weights: dict[str, np.ndarray], i: int, shape: BertShape) -> str:
    path, module = f"/encoder/layer.{i}/attention/self", f"encoder.layer.{i}.attention.self"
    head_dim = shape.hidden // shape.heads
    heads = g.const(f"{path}/heads_shape", [0, 0, shape.heads, head_dim], np.int64)

    def split(name: str, perm: list[int], suffix: str) -> str:
        projected = _linear(g, x, weights, f"{module}.{name}", f"{path}/{name}")
        per_head = g.op("Reshape", f"{path}/Reshape{suffix}", [projected, heads])  # [B, S, h, d]
        return g.op("Transpose", f"{path}/Transpose{suffix}", [per_head], perm=perm)

    query = split("query", [0, 2, 1, 3], "")  # [B, h, S, d]
    key_t = split("key", [0, 2, 3, 1], "_1")  # [B, h, d, S]
    value = split("value", [0, 2, 1, 3], "_2")  # [B, h, S, d]
    scores = g.op("MatMul", f"{path}/MatMul", [query, key_t])
    scaled = g.op("Mul", f"{path}/Mul", [scores, g.const(f"{path}/scaling", head_dim**-0.5, np.float32)])
    masked = g.op("Add", f"{path}/Add", [scaled, mask_bias])
    probs = g.op("Softmax", f"{path}/Softmax", [masked], axis=-1)
    context = g.op("MatMul", f"{path}/MatMul_1", [probs, value])  # [B, h, S, d]
    context = g.op("Transpose", f"{path}/Transpose_3", [context], perm=[0, 2, 1, 3])  # [B, S, h, d]
    merged = g.const(f"{path}/merged_shape", [0, 0, shape.hidden], np.int64)
    return g.op("Reshape", f"{path}/Reshape_3", [context, merged])  # [B, S, H]


def _gelu(g: _Graph, x: str, path: str) -> str:
    """x * 0.5 * (1 + erf(x / sqrt 2)), the exact GELU, in the exported order of operations."""
    scaled = g.op("Div", f"{path}/Div", [x, g.const(f"{path}/sqrt2", np.sqrt(2.0), np.float32)])
    erf = g.op("Erf", f"{path}/Erf", [scaled])
    shifted = g.op("Add", f"{path}/Add", [erf, g.const(f"{path}/one", 1.0, np.float32)])
    product = g.op("Mul", f"{path}/Mul", [x, shifted])
    return g.op("Mul", f"{path}/Mul_1", [product, g.const(f"{path}/half", 0.5, np.float32)])


def _encoder_layer(g: _Graph, x: str, mask_bias: str, weights: dict[str, np.ndarray], i: int, shape: BertShape) -> str:
    path, module = f"/encoder/layer.{i}", f"encoder.layer.{i}"
    context = _attention(g, x, mask_bias, weights, i, shape)
    attended = _linear(g, context, weights, f"{module}.attention.output.dense", f"{path}/attention/output/dense")
    residual = g.op("Add", f"{path}/attention/output/Add", [attended, x])
    x = _layer_norm(
        g, residual, weights, f"{module}.attention.output.LayerNorm", f"{path}/attention/output/LayerNorm", shape.eps
    )
    inner = _linear(g, x, weights, f"{module}.intermediate.dense", f"{path}/intermediate/dense")
    activated = _gelu(g, inner, f"{path}/intermediate/intermediate_act_fn")
    out = _linear(g, activated, weights, f"{module}.output.dense", f"{path}/output/dense")
    residual = g.op("Add", f"{path}/output/Add", [out, x])
    return _layer_norm(g, residual, weights, f"{module}.output.LayerNorm", f"{path}/output/LayerNorm", shape.eps)


def _embeddings(g: _Graph, input_ids: str, weights: dict[str, np.ndarray], shape: BertShape) -> str:
    """word + token type 0 + position, then LayerNorm (token type ids are always 0 here)."""
    path = "/embeddings"
    table = g.init("embeddings.word_embeddings.weight", weights["embeddings.word_embeddings.weight"].astype(np.float32))
    words = g.op("Gather", f"{path}/word_embeddings/Gather", [table, input_ids])
    type0 = g.init(
        "embeddings.token_type_embeddings.weight[0]",
        weights["embeddings.token_type_embeddings.weight"][0].astype(np.float32),
    )
    typed = g.op("Add", f"{path}/Add", [words, type0])
    positions = g.init(
        "embeddings.position_embeddings.weight", weights["embeddings.position_embeddings.weight"].astype(np.float32)
    )
    length = g.op("Shape", f"{path}/Shape", [input_ids], start=1, end=2)  # [S]
    first = g.op(
        "Slice",
        f"{path}/position_embeddings/Slice",
        [positions, g.const(f"{path}/zero", [0], np.int64), length, g.const(f"{path}/axis0", [0], np.int64)],
    )  # [S, H]
    summed = g.op("Add", f"{path}/Add_1", [typed, first])
    return _layer_norm(g, summed, weights, "embeddings.LayerNorm", f"{path}/LayerNorm", shape.eps)


def _mask_bias(g: _Graph, attention_mask: str) -> str:
    """[B, S] 0/1 -> [B, 1, 1, S]: 0 where a key is a real token, float32 min where it is padding."""
    keep = g.op("Cast", "/Cast_mask", [attention_mask], to=TensorProto.BOOL)
    keep = g.op("Unsqueeze", "/Unsqueeze_mask", [keep, g.const("/mask_axes", [1, 2], np.int64)])
    return g.op(
        "Where",
        "/Where_mask",
        [keep, g.const("/mask_keep", 0.0, np.float32), g.const("/mask_drop", MASKED, np.float32)],
    )


def _mean_pool_and_normalize(g: _Graph, hidden: str, attention_mask: str) -> str:
    mask = g.op("Unsqueeze", "/Unsqueeze", [attention_mask, g.const("/last_axis", [-1], np.int64)])
    mask = g.op("Cast", "/Cast", [mask], to=TensorProto.FLOAT)  # [B, S, 1]
    masked = g.op("Mul", "/Mul", [hidden, mask])
    axis1 = g.const("/sequence_axis", [1], np.int64)
    summed = g.op("ReduceSum", "/ReduceSum", [masked, axis1], keepdims=0)  # [B, H]
    counts = g.op("ReduceSum", "/ReduceSum_1", [mask, axis1], keepdims=0)  # [B, 1]
    counts = g.op("Clip", "/Clip", [counts, g.const("/count_floor", 1e-9, np.float32)])
    mean = g.op("Div", "/Div", [summed, counts])
    norm = g.op("ReduceL2", "/ReduceL2", [mean], axes=[-1], keepdims=1)
    norm = g.op("Clip", "/Clip_1", [norm, g.const("/norm_floor", 1e-12, np.float32)])
    return g.op("Div", "/Div_1", [mean, norm])


def bert_embedding_graph(
    weights: dict[str, np.ndarray], shape: BertShape, output: str = "embeddings"
) -> onnx.ModelProto:
    """fp32 ONNX: input_ids, attention_mask [batch, sequence] int64 -> L2-normalized mean-pooled
    embeddings [batch, hidden]. `weights` are named like a transformers BertModel's state dict."""
    g = _Graph()
    hidden = _embeddings(g, "input_ids", weights, shape)
    mask_bias = _mask_bias(g, "attention_mask")
    for i in range(shape.layers):
        hidden = _encoder_layer(g, hidden, mask_bias, weights, i, shape)
    pooled = _mean_pool_and_normalize(g, hidden, "attention_mask")
    g.nodes.append(helper.make_node("Identity", [pooled], [output], name="/output"))
    graph = helper.make_graph(
        g.nodes,
        "bert_embedding",
        [
            helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
            for n in ("input_ids", "attention_mask")
        ],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", shape.hidden])],
        g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="stream-classifier", ir_version=IR_VERSION
    )
    onnx.checker.check_model(model)
    return model
