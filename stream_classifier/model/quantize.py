"""INT8 quantization of an fp32 ONNX transformer whose result does not depend on its batch.

onnxruntime's `quantize_dynamic` picks one activation scale per tensor per run, i.e. over the
whole batch, padding included: a text's label then depends on its batch-mates. Here every
MatMul with a constant weight becomes

    x  -> per row (per token) symmetric: scale = max|x_row| / 127, stored as uint8 around 128
          (one QuantizeLinear along axis 0 of the [rows, K] view)
    W  -> per output channel symmetric int8 (computed once, here)
    y  = MatMulIntegerToFloat(x_q, W_q, a_scale=[rows, 1], b_scale=[N], a_zero_point=128)

so each token is quantized on its own range and the integer products are exact: nothing is
shared between rows, hence nothing between texts or with padding, and a text gets the same
result whatever batch it runs in. onnxruntime's MatMulIntegerToFloat broadcasts a [rows, 1]
a_scale in its epilogue, so this costs about what quantize_dynamic costs. The word-embedding
table is stored as int8 with one scale per row (Gather, then dequantize the gathered rows).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MIN_EMBEDDING_ROWS = 4096


def _opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    raise ValueError("model has no default-domain opset")


def quantize_weight_per_channel(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[K, N] fp32 -> int8 [K, N] and fp32 scale [N] (symmetric, one scale per output column)."""
    absmax = np.abs(weight).max(axis=0)
    scale = np.where(absmax > 0, absmax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(weight / scale), -127, 127).astype(np.int8)
    return q, scale


def quantize_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[V, H] fp32 -> int8 [V, H] and fp32 scale [V, 1] (symmetric, one scale per row)."""
    absmax = np.abs(table).max(axis=1, keepdims=True)
    scale = np.where(absmax > 0, absmax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(table / scale), -127, 127).astype(np.int8)
    return q, scale


class _Builder:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.graph = model.graph
        self.opset = _opset(model)
        self.new_inits: list[TensorProto] = []
        self.counter = 0

    def name(self, base: str) -> str:
        self.counter += 1
        return f"{base}__q{self.counter}"

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.name(base)
        self.new_inits.append(numpy_helper.from_array(value, name))
        return name

    def reduce(self, op: str, x: str, out: str) -> onnx.NodeProto:
        if self.opset >= 18:
            axes = self.const("axes", np.array([-1], dtype=np.int64))
            return helper.make_node(op, [x, axes], [out], keepdims=1)
        return helper.make_node(op, [x], [out], axes=[-1], keepdims=1)


def _activation_quant_nodes(b: _Builder, x: str, k: int) -> tuple[list[onnx.NodeProto], str, str]:
    """Nodes that quantize x per row: symmetric, stored as uint8 around a zero point of 128.

    Returns (nodes, x_q, row_scale): x_q shaped [rows, K], row_scale [rows].
    """
    inv127 = b.const("inv127", np.array(1.0 / 127.0, dtype=np.float32))
    tiny = b.const("tiny", np.array(1e-12, dtype=np.float32))
    flat = b.const("flat", np.array([-1], dtype=np.int64))
    cols = b.const("cols", np.array([-1, k], dtype=np.int64))
    zp128 = numpy_helper.from_array(np.array([128], dtype=np.uint8))
    n = b.name(x)
    nodes = [
        helper.make_node("Reshape", [x, cols], [f"{n}_x2d"]),                          # [rows, K]
        helper.make_node("Abs", [f"{n}_x2d"], [f"{n}_abs"]),
        b.reduce("ReduceMax", f"{n}_abs", f"{n}_absmax"),
        helper.make_node("Max", [f"{n}_absmax", tiny], [f"{n}_absmax_safe"]),
        helper.make_node("Mul", [f"{n}_absmax_safe", inv127], [f"{n}_scale_col"]),     # [rows, 1]
        helper.make_node("Reshape", [f"{n}_scale_col", flat], [f"{n}_scale"]),         # [rows]
        helper.make_node("Shape", [f"{n}_scale"], [f"{n}_rows"]),
        helper.make_node("ConstantOfShape", [f"{n}_rows"], [f"{n}_zp"], value=zp128),
        helper.make_node("QuantizeLinear", [f"{n}_x2d", f"{n}_scale", f"{n}_zp"], [f"{n}_u8"], axis=0),
    ]
    return nodes, f"{n}_u8", f"{n}_scale_col"


def quantize_per_token(src: str | Path, dst: str | Path, keep_fp32: list[str] | None = None) -> dict:
    """Write the batch-independent INT8 model; return a summary of what was quantized.

    keep_fp32: fnmatch patterns of MatMul node names (or weight names) left in fp32.
    """
    model = onnx.load(str(src))
    b = _Builder(model)
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    keep_fp32 = keep_fp32 or []

    def kept(node: onnx.NodeProto) -> bool:
        names = [node.name, *node.input]
        return any(fnmatch.fnmatch(n, pat) for n in names for pat in keep_fp32)

    quant_of_input: dict[str, tuple[str, str]] = {}
    new_nodes: list[onnx.NodeProto] = []
    replaced_inits: set[str] = set()
    summary = {"matmul_int8": 0, "matmul_fp32": 0, "gather_int8": 0}

    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits and len(inits[node.input[1]].dims) == 2:
            if kept(node):
                summary["matmul_fp32"] += 1
                new_nodes.append(node)
                continue
            x, w_name = node.input
            weight = numpy_helper.to_array(inits[w_name]).astype(np.float32)
            w_q, w_scale = quantize_weight_per_channel(weight)
            if x not in quant_of_input:
                nodes, x_q, x_scale = _activation_quant_nodes(b, x, w_q.shape[0])
                new_nodes.extend(nodes)
                quant_of_input[x] = (x_q, x_scale)
            x_q, x_scale = quant_of_input[x]
            wq = b.const(f"{w_name}_int8", w_q)
            ws = b.const(f"{w_name}_scale", w_scale)
            zp = b.const("a_zp", np.array(128, dtype=np.uint8))
            n = b.name(node.name or w_name)
            # [rows, K] x [K, N] -> [rows, N], scaled per row (a_scale [rows, 1]) and per column
            new_nodes.extend([
                helper.make_node("MatMulIntegerToFloat", [x_q, wq, x_scale, ws, zp],
                                 [f"{n}_y2d"], domain="com.microsoft"),
                helper.make_node("Shape", [x], [f"{n}_xshape"]),
                helper.make_node("Slice", [f"{n}_xshape", b.const("s0", np.array([0], dtype=np.int64)),
                                           b.const("s1", np.array([-1], dtype=np.int64))], [f"{n}_lead"]),
                helper.make_node("Concat", [f"{n}_lead", b.const("n", np.array([w_q.shape[1]], dtype=np.int64))],
                                 [f"{n}_yshape"], axis=0),
                helper.make_node("Reshape", [f"{n}_y2d", f"{n}_yshape"], [node.output[0]]),
            ])
            replaced_inits.add(w_name)
            summary["matmul_int8"] += 1
        elif (node.op_type == "Gather" and node.input[0] in inits
              and len(inits[node.input[0]].dims) == 2
              and inits[node.input[0]].dims[0] >= MIN_EMBEDDING_ROWS):
            table_name, ids = node.input
            table = numpy_helper.to_array(inits[table_name]).astype(np.float32)
            t_q, t_scale = quantize_rows(table)
            tq = b.const(f"{table_name}_int8", t_q)
            ts = b.const(f"{table_name}_row_scale", t_scale)
            n = b.name(node.name or table_name)
            new_nodes.extend([
                helper.make_node("Gather", [tq, ids], [f"{n}_rows_q"], axis=0),
                helper.make_node("Gather", [ts, ids], [f"{n}_rows_scale"], axis=0),
                helper.make_node("Cast", [f"{n}_rows_q"], [f"{n}_rows_f"], to=TensorProto.FLOAT),
                helper.make_node("Mul", [f"{n}_rows_f", f"{n}_rows_scale"], [node.output[0]]),
            ])
            replaced_inits.add(table_name)
            summary["gather_int8"] += 1
        else:
            new_nodes.append(node)

    still_used = {i for node in new_nodes for i in node.input}
    kept_inits = [init for init in graph.initializer
                  if init.name not in replaced_inits or init.name in still_used]
    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept_inits + b.new_inits)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return summary


def quantize_ort_dynamic(src: str | Path, dst: str | Path, per_channel: bool = True) -> None:
    """onnxruntime's stock dynamic quantization (per-tensor activations), for comparison only."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), per_channel=per_channel, weight_type=QuantType.QInt8)
