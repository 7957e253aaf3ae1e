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


class GraphBuilder:
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


def per_row_quant_nodes(b: GraphBuilder, x: str, k: int) -> tuple[list[onnx.NodeProto], str, str]:
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


def is_weight_matmul(node: onnx.NodeProto, inits: dict) -> bool:
    """A MatMul by a constant 2-D weight (a linear layer)."""
    return node.op_type == "MatMul" and node.input[1] in inits and len(inits[node.input[1]].dims) == 2


def is_embedding_gather(node: onnx.NodeProto, inits: dict) -> bool:
    """A Gather from a constant table with a vocabulary's worth of rows (a word embedding)."""
    return (node.op_type == "Gather" and node.input[0] in inits and len(inits[node.input[0]].dims) == 2
            and inits[node.input[0]].dims[0] >= MIN_EMBEDDING_ROWS)


class PerTokenQuantizer:
    """The scheme above, applied to one graph. The comparison variants (quantize_variants.py)
    subclass it at three points: which MatMuls are quantized, how a weight is prepared, how an
    input is quantized (and the MatMul that follows from it)."""

    def __init__(self, model: onnx.ModelProto, refine: list[str] | None = None):
        self.model = model
        self.b = GraphBuilder(model)
        self.inits = {init.name: init for init in model.graph.initializer}
        self.refine = refine or []
        self.quantized_inputs: dict = {}  # input name (or (name, "residual")) -> (x_q, row_scale)
        self.nodes: list[onnx.NodeProto] = []
        self.replaced_inits: set[str] = set()
        self.summary: dict = {"matmul_int8": 0, "gather_int8": 0}

    # -- the points the comparison variants change
    def quantizes(self, node: onnx.NodeProto) -> bool:
        return True

    def prepared_weight(self, x: str, weight: np.ndarray) -> np.ndarray:
        return weight

    def quantized_input(self, x: str, k: int) -> tuple:
        """(x_q [rows, K] uint8 around 128, row scale [rows, 1]); the nodes go to self.nodes."""
        nodes, x_q, x_scale = per_row_quant_nodes(self.b, x, k)
        self.nodes.extend(nodes)
        return x_q, x_scale

    def matmul_nodes(self, node: onnx.NodeProto, x: str, quantized: tuple, wq: str, ws: str, n: str,
                     w_q: np.ndarray, w_scale: np.ndarray) -> None:
        """[rows, K] x [K, N] -> {n}_y2d [rows, N], scaled per row (a_scale [rows, 1]) and per column."""
        b = self.b
        x_q, x_scale = quantized
        zp = b.const("a_zp", np.array(128, dtype=np.uint8))
        if not any(fnmatch.fnmatch(node.name, pat) for pat in self.refine):
            self.nodes.append(helper.make_node("MatMulIntegerToFloat", [x_q, wq, x_scale, ws, zp],
                                               [f"{n}_y2d"], domain="com.microsoft"))
            return
        # refined: the input's rounding residual is quantized per token too and multiplied by
        # the same weights (~15-bit activations at twice the integer work)
        if (x, "residual") not in self.quantized_inputs:
            base = x_q[:-len("_u8")]
            residual = f"{base}_residual"
            self.nodes.extend([
                helper.make_node("DequantizeLinear", [x_q, f"{base}_scale", f"{base}_zp"], [f"{base}_dq"], axis=0),
                helper.make_node("Sub", [f"{base}_x2d", f"{base}_dq"], [residual]),
            ])
            nodes, r_q, r_scale = per_row_quant_nodes(b, residual, w_q.shape[0])
            self.nodes.extend(nodes)
            self.quantized_inputs[(x, "residual")] = (r_q, r_scale)
        r_q, r_scale = self.quantized_inputs[(x, "residual")]
        self.nodes.extend([
            helper.make_node("MatMulIntegerToFloat", [x_q, wq, x_scale, ws, zp], [f"{n}_y2d_main"],
                             domain="com.microsoft"),
            helper.make_node("MatMulIntegerToFloat", [r_q, wq, r_scale, ws, zp], [f"{n}_y2d_fine"],
                             domain="com.microsoft"),
            helper.make_node("Add", [f"{n}_y2d_main", f"{n}_y2d_fine"], [f"{n}_y2d"]),
        ])
        self.summary["refined"] = self.summary.get("refined", 0) + 1

    # -- the walk over the graph
    def run(self) -> dict:
        for node in self.model.graph.node:
            if is_weight_matmul(node, self.inits) and self.quantizes(node):
                self._matmul(node)
            elif is_embedding_gather(node, self.inits):
                self.nodes.extend(int8_gather_nodes(self.b, node, self.inits))
                self.replaced_inits.add(node.input[0])
                self.summary["gather_int8"] += 1
            else:
                self.nodes.append(node)
        replace_graph(self.model, self.nodes, self.replaced_inits, self.b)
        return self.summary

    def _matmul(self, node: onnx.NodeProto) -> None:
        b = self.b
        x, w_name = node.input
        weight = self.prepared_weight(x, numpy_helper.to_array(self.inits[w_name]).astype(np.float32))
        w_q, w_scale = quantize_weight_per_channel(weight)
        if x not in self.quantized_inputs:
            self.quantized_inputs[x] = self.quantized_input(x, w_q.shape[0])
        wq = b.const(f"{w_name}_int8", w_q)
        ws = b.const(f"{w_name}_scale", w_scale)
        n = b.name(node.name or w_name)
        self.matmul_nodes(node, x, self.quantized_inputs[x], wq, ws, n, w_q, w_scale)
        self.nodes.extend([
            helper.make_node("Shape", [x], [f"{n}_xshape"]),
            helper.make_node("Slice", [f"{n}_xshape", b.const("s0", np.array([0], dtype=np.int64)),
                                       b.const("s1", np.array([-1], dtype=np.int64))], [f"{n}_lead"]),
            helper.make_node("Concat", [f"{n}_lead", b.const("n", np.array([w_q.shape[1]], dtype=np.int64))],
                             [f"{n}_yshape"], axis=0),
            helper.make_node("Reshape", [f"{n}_y2d", f"{n}_yshape"], [node.output[0]]),
        ])
        self.replaced_inits.add(w_name)
        self.summary["matmul_int8"] += 1


def quantize_per_token(src: str | Path, dst: str | Path, refine: list[str] | None = None) -> dict:
    """Write the batch-independent INT8 model; return a summary of what was quantized.

    refine: fnmatch patterns of MatMul node names whose input also gets its rounding error
    quantized (a second per-token int8 pass and a second integer GEMM): ~15-bit activations
    at twice the integer work, for the layers that need it.
    """
    model = onnx.load(str(src))
    summary = PerTokenQuantizer(model, refine).run()
    onnx.save(model, str(dst))
    return summary


def int8_gather_nodes(b: GraphBuilder, node: onnx.NodeProto, inits: dict) -> list[onnx.NodeProto]:
    """An embedding-table Gather on an int8 table with one scale per row."""
    table_name, ids = node.input
    t_q, t_scale = quantize_rows(numpy_helper.to_array(inits[table_name]).astype(np.float32))
    tq = b.const(f"{table_name}_int8", t_q)
    ts = b.const(f"{table_name}_row_scale", t_scale)
    n = b.name(node.name or table_name)
    return [
        helper.make_node("Gather", [tq, ids], [f"{n}_rows_q"], axis=0),
        helper.make_node("Gather", [ts, ids], [f"{n}_rows_scale"], axis=0),
        helper.make_node("Cast", [f"{n}_rows_q"], [f"{n}_rows_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", [f"{n}_rows_f", f"{n}_rows_scale"], [node.output[0]]),
    ]


def replace_graph(model: onnx.ModelProto, new_nodes: list[onnx.NodeProto], replaced_inits: set[str],
                   b: GraphBuilder) -> None:
    graph = model.graph
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
