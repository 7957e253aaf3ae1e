"""INT8 quantization of an fp32 ONNX transformer whose result depends neither on its batch nor on
the CPU's integer instructions.

onnxruntime's `quantize_dynamic` picks one activation scale per tensor per run, i.e. over the
whole batch, padding included: a text's label then depends on its batch-mates. Here every
MatMul with a constant weight becomes

    x  -> per row (per token) symmetric: scale = max|x_row| / 127, stored as uint8 around 128
          (one QuantizeLinear along axis 0 of the [rows, K] view)
    W  -> per output channel symmetric, levels in [-64, 64] (computed once, here)
    y  = MatMulIntegerToFloat(x_q, W_q, a_scale=[rows, 1], b_scale=[N], a_zero_point=128)

so each token is quantized on its own range and the integer products are exact: nothing is
shared between rows, hence nothing between texts or with padding, and a text gets the same
result whatever batch it runs in.

Why [-64, 64] and not [-127, 127]: on x86 CPUs without VNNI, onnxruntime's uint8 x int8 GEMM
adds each adjacent pair of byte products into a saturating 16-bit lane (`vpmaddubsw`, see
cpu_features.py). An activation byte reaches 255, so a pair of 127-weights can reach 64,770 and
is clipped to 32,767; with weights bounded by 64 a pair is at most 2 x 255 x 64 = 32,640, so
the same model gives the same integers on AVX2, AVX-512, VNNI and AMX. (This is the bound
onnxruntime's own Avx2WeightS8ToU8Transformer checks before it declares weights safe.) The
seventh bit is won back by rounding: with calibration inputs, weights are rounded to keep each
layer's *outputs* close (GPTQ, weight_rounding.py), not each weight on its own.

MatMuls that share an input (a layer's query, key and value) run as one MatMulIntegerToFloat on
their concatenated weights, then Split. Layers matching `refine` quantize their input's
rounding residual too, on a scale 254 times finer, and run the GEMM a second time (~15-bit
activations at twice the integer work). The word-embedding table is stored as int8 with one scale per row (Gather, then
dequantize the gathered rows).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from stream_classifier_workbench.building.weight_rounding import error_compensated, round_to_nearest

MIN_EMBEDDING_ROWS = 4096
WEIGHT_LEVELS = 64
SCHEME = "per-token-uint8/per-channel-int7"


def _opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    raise ValueError("model has no default-domain opset")


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

    Returns (nodes, x_q, row_scale): x_q shaped [rows, K], row_scale [rows, 1].
    """
    inv127 = b.const("inv127", np.array(1.0 / 127.0, dtype=np.float32))
    tiny = b.const("tiny", np.array(1e-12, dtype=np.float32))
    flat = b.const("flat", np.array([-1], dtype=np.int64))
    cols = b.const("cols", np.array([-1, k], dtype=np.int64))
    zp128 = numpy_helper.from_array(np.array([128], dtype=np.uint8))
    n = b.name(x)
    nodes = [
        helper.make_node("Reshape", [x, cols], [f"{n}_x2d"]),  # [rows, K]
        helper.make_node("Abs", [f"{n}_x2d"], [f"{n}_abs"]),
        b.reduce("ReduceMax", f"{n}_abs", f"{n}_absmax"),
        helper.make_node("Max", [f"{n}_absmax", tiny], [f"{n}_absmax_safe"]),
        helper.make_node("Mul", [f"{n}_absmax_safe", inv127], [f"{n}_scale_col"]),  # [rows, 1]
        helper.make_node("Reshape", [f"{n}_scale_col", flat], [f"{n}_scale"]),  # [rows]
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
    return (
        node.op_type == "Gather"
        and node.input[0] in inits
        and len(inits[node.input[0]].dims) == 2
        and inits[node.input[0]].dims[0] >= MIN_EMBEDDING_ROWS
    )


class PerTokenQuantizer:
    """The scheme above, applied to one graph. The comparison variants (quantize_variants.py)
    subclass it at four points: which MatMuls are quantized, how a weight is prepared and
    rounded, how an input is quantized (and the MatMul that follows from it)."""

    def __init__(
        self,
        model: onnx.ModelProto,
        refine: list[str] | None = None,
        grams: dict[str, np.ndarray] | None = None,
        weight_levels: int = WEIGHT_LEVELS,
    ):
        self.model = model
        self.b = GraphBuilder(model)
        self.inits = {init.name: init for init in model.graph.initializer}
        self.refine = refine or []
        self.grams = grams or {}
        self.weight_levels = weight_levels
        self.quantized_inputs: dict = {}  # input name (or (name, "residual")) -> (x_q, row_scale)
        self.nodes: list[onnx.NodeProto] = []
        self.replaced_inits: set[str] = set()
        self.summary: dict = {
            "matmul_int8": 0,
            "gather_int8": 0,
            "fused_groups": 0,
            "weight_levels": weight_levels,
            "weight_rounding": "gptq" if self.grams else "nearest",
        }

    # -- the points the comparison variants change
    def quantizes(self, node: onnx.NodeProto) -> bool:
        return True

    def prepared_weight(self, x: str, weight: np.ndarray) -> np.ndarray:
        return weight

    def rounded_weight(self, x: str, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[K, N] fp32 -> int8 [K, N], scale [N]."""
        if x in self.grams:
            return error_compensated(weight, self.grams[x], self.weight_levels)
        return round_to_nearest(weight, self.weight_levels)

    def quantized_input(self, x: str, k: int) -> tuple:
        """(x_q [rows, K] uint8 around 128, row scale [rows, 1]); the nodes go to self.nodes."""
        nodes, x_q, x_scale = per_row_quant_nodes(self.b, x, k)
        self.nodes.extend(nodes)
        return x_q, x_scale

    def matmul_nodes(
        self,
        node: onnx.NodeProto,
        x: str,
        quantized: tuple,
        wq: str,
        ws: str,
        n: str,
        w_q: np.ndarray,
        w_scale: np.ndarray,
        bias: str | None = None,
    ) -> None:
        """[rows, K] x [K, N] (+ bias [N]) -> {n}_y2d [rows, N], scaled per row (a_scale [rows, 1])
        and per column."""
        b = self.b
        x_q, x_scale = quantized
        zp = b.const("a_zp", np.array(128, dtype=np.uint8))
        if not self._refined(node):
            product = f"{n}_y2d_nobias" if bias else f"{n}_y2d"
            self.nodes.append(
                helper.make_node("MatMulIntegerToFloat", [x_q, wq, x_scale, ws, zp], [product], domain="com.microsoft")
            )
            if bias:
                self.nodes.append(helper.make_node("Add", [product, bias], [f"{n}_y2d"]))
            return
        # refined: the input's rounding residual is quantized too and multiplied by the same
        # weights (~15-bit activations at twice the integer work). No pass over the row is needed
        # for its scale: |x - dequantized| <= scale / 2, so scale / 254 maps it onto [-127, 127].
        if (x, "residual") not in self.quantized_inputs:
            base = x_q[: -len("_u8")]
            fine = b.const("inv254", np.array(1.0 / 254.0, dtype=np.float32))
            self.nodes.extend(
                [
                    helper.make_node("DequantizeLinear", [x_q, f"{base}_scale", f"{base}_zp"], [f"{base}_dq"], axis=0),
                    helper.make_node("Sub", [f"{base}_x2d", f"{base}_dq"], [f"{base}_residual"]),
                    helper.make_node("Mul", [f"{base}_scale", fine], [f"{base}_r_scale"]),
                    helper.make_node("Mul", [f"{base}_scale_col", fine], [f"{base}_r_scale_col"]),
                    helper.make_node(
                        "QuantizeLinear",
                        [f"{base}_residual", f"{base}_r_scale", f"{base}_zp"],
                        [f"{base}_r_u8"],
                        axis=0,
                    ),
                ]
            )
            self.quantized_inputs[(x, "residual")] = (f"{base}_r_u8", f"{base}_r_scale_col")
        r_q, r_scale = self.quantized_inputs[(x, "residual")]
        self.nodes.extend(
            [
                helper.make_node(
                    "MatMulIntegerToFloat", [x_q, wq, x_scale, ws, zp], [f"{n}_y2d_main"], domain="com.microsoft"
                ),
                helper.make_node(
                    "MatMulIntegerToFloat", [r_q, wq, r_scale, ws, zp], [f"{n}_y2d_fine"], domain="com.microsoft"
                ),
                helper.make_node("Sum", [f"{n}_y2d_main", f"{n}_y2d_fine"] + ([bias] if bias else []), [f"{n}_y2d"]),
            ]
        )
        self.summary["refined"] = self.summary.get("refined", 0) + 1

    def _refined(self, node: onnx.NodeProto) -> bool:
        return any(fnmatch.fnmatch(node.name, pat) for pat in self.refine)

    # -- the walk over the graph
    def run(self) -> dict:
        groups: dict[str, list[onnx.NodeProto]] = {}
        for node in self.model.graph.node:
            if is_weight_matmul(node, self.inits) and self.quantizes(node):
                groups.setdefault(node.input[0], []).append(node)
        self.bias_adds = bias_adds(self.model.graph, self.inits)
        folded = {
            id(self.bias_adds[m.output[0]][0]) for group in groups.values() if self._folds_bias(group) for m in group
        }
        for node in self.model.graph.node:
            group = groups.get(node.input[0]) if node.input else None
            if id(node) in folded:
                continue  # the bias Add, done inside its MatMul's group
            if group is not None and any(node is member for member in group):
                if node is group[0]:  # the whole group at its first member's place
                    self._matmul_group(group)
            elif is_embedding_gather(node, self.inits):
                self.nodes.extend(int8_gather_nodes(self.b, node, self.inits))
                self.replaced_inits.add(node.input[0])
                self.summary["gather_int8"] += 1
            else:
                self.nodes.append(node)
        replace_graph(self.model, self.nodes, self.replaced_inits, self.b)
        return self.summary

    def _folds_bias(self, group: list[onnx.NodeProto]) -> bool:
        return all(node.output[0] in self.bias_adds for node in group)

    def _matmul_group(self, group: list[onnx.NodeProto]) -> None:
        """MatMuls of one input: one integer GEMM on their weights side by side (and their bias
        Adds in the same pass), then Split."""
        b = self.b
        x = group[0].input[0]
        rounded = [
            self.rounded_weight(
                x, self.prepared_weight(x, numpy_helper.to_array(self.inits[node.input[1]]).astype(np.float32))
            )
            for node in group
        ]
        w_q = np.concatenate([q for q, _ in rounded], axis=1)
        w_scale = np.concatenate([s for _, s in rounded])
        widths = [q.shape[1] for q, _ in rounded]
        if x not in self.quantized_inputs:
            self.quantized_inputs[x] = self.quantized_input(x, w_q.shape[0])
        lead = group[0]
        wq = b.const(f"{lead.input[1]}_int8", w_q)
        ws = b.const(f"{lead.input[1]}_scale", w_scale)
        n = b.name(lead.name or lead.input[1])
        bias, outputs = None, [node.output[0] for node in group]
        if self._folds_bias(group):
            adds = [self.bias_adds[node.output[0]] for node in group]
            bias = b.const(
                f"{lead.input[1]}_bias",
                np.concatenate([numpy_helper.to_array(self.inits[name]).astype(np.float32) for _, name in adds]),
            )
            outputs = [add.output[0] for add, _ in adds]
            self.replaced_inits.update(name for _, name in adds)
        self.matmul_nodes(lead, x, self.quantized_inputs[x], wq, ws, n, w_q, w_scale, bias)
        self.nodes.extend(
            [
                helper.make_node("Shape", [x], [f"{n}_xshape"]),
                helper.make_node(
                    "Slice",
                    [
                        f"{n}_xshape",
                        b.const("s0", np.array([0], dtype=np.int64)),
                        b.const("s1", np.array([-1], dtype=np.int64)),
                    ],
                    [f"{n}_lead"],
                ),
            ]
        )
        pieces = [f"{n}_y2d"]
        if len(group) > 1:
            pieces = [f"{n}_part{i}" for i in range(len(group))]
            self.nodes.append(
                helper.make_node("Split", [f"{n}_y2d", b.const("widths", np.array(widths, np.int64))], pieces, axis=1)
            )
            self.summary["fused_groups"] += 1
        for node, output, piece, width in zip(group, outputs, pieces, widths):
            self.nodes.extend(
                [
                    helper.make_node(
                        "Concat",
                        [f"{n}_lead", b.const("n", np.array([width], dtype=np.int64))],
                        [f"{piece}_shape"],
                        axis=0,
                    ),
                    helper.make_node("Reshape", [piece, f"{piece}_shape"], [output]),
                ]
            )
            self.replaced_inits.add(node.input[1])
            self.summary["matmul_int8"] += 1


def bias_adds(graph: onnx.GraphProto, inits: dict) -> dict[str, tuple[onnx.NodeProto, str]]:
    """Weight MatMul output -> (the Add that adds a [N] bias initializer to it, the bias's name),
    where that Add is the output's only consumer."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in graph.output}
    found = {}
    for node in graph.node:
        if not is_weight_matmul(node, inits) or node.output[0] in graph_outputs:
            continue
        users = consumers.get(node.output[0], [])
        if len(users) != 1 or users[0].op_type != "Add":
            continue
        add = users[0]
        bias = add.input[0] if add.input[1] == node.output[0] else add.input[1]
        n_cols = inits[node.input[1]].dims[-1]
        if bias in inits and list(inits[bias].dims) == [n_cols] and inits[bias].data_type == TensorProto.FLOAT:
            found[node.output[0]] = (add, bias)
    return found


def quantize_per_token(
    src: str | Path,
    dst: str | Path,
    refine: list[str] | None = None,
    grams: dict[str, np.ndarray] | None = None,
    weight_levels: int = WEIGHT_LEVELS,
) -> dict:
    """Write the batch-independent INT8 model; return a summary of what was quantized.

    refine: fnmatch patterns of MatMul node names whose input also gets its rounding error
    quantized (a second per-token int8 pass and a second integer GEMM): ~15-bit activations
    at twice the integer work, for the layers that need it.
    grams: per MatMul input name, X^T X of calibration inputs (calibration.py): the weights of
    those MatMuls are rounded by GPTQ instead of to nearest.
    weight_levels: 127 only to measure what 8-bit weights would do (they saturate on AVX2).
    """
    model = onnx.load(str(src))
    summary = PerTokenQuantizer(model, refine, grams, weight_levels).run()
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


def replace_graph(
    model: onnx.ModelProto, new_nodes: list[onnx.NodeProto], replaced_inits: set[str], b: GraphBuilder
) -> None:
    graph = model.graph
    still_used = {i for node in new_nodes for i in node.input}
    kept_inits = [init for init in graph.initializer if init.name not in replaced_inits or init.name in still_used]
    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept_inits + b.new_inits)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.checker.check_model(model)
