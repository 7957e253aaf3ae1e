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


def _asymmetric_quant_nodes(b: _Builder, x: str, k: int) -> tuple[list[onnx.NodeProto], str, str, str]:
    """Per-row asymmetric uint8 for one-sided inputs (after GELU): the full 8 bits on [min, max].

    Returns (nodes, x_q, row_scale [rows, 1], row_offset [rows, 1] = scale * zero_point).
    """
    zero = b.const("zero", np.array(0.0, dtype=np.float32))
    inv255 = b.const("inv255", np.array(1.0 / 255.0, dtype=np.float32))
    tiny = b.const("tiny", np.array(1e-12, dtype=np.float32))
    lo, hi = b.const("lo", np.array(0.0, dtype=np.float32)), b.const("hi", np.array(255.0, dtype=np.float32))
    flat = b.const("flat", np.array([-1], dtype=np.int64))
    cols = b.const("cols", np.array([-1, k], dtype=np.int64))
    n = b.name(x)
    nodes = [
        helper.make_node("Reshape", [x, cols], [f"{n}_x2d"]),
        b.reduce("ReduceMax", f"{n}_x2d", f"{n}_max0"),
        b.reduce("ReduceMin", f"{n}_x2d", f"{n}_min0"),
        helper.make_node("Max", [f"{n}_max0", zero], [f"{n}_max"]),
        helper.make_node("Min", [f"{n}_min0", zero], [f"{n}_min"]),
        helper.make_node("Sub", [f"{n}_max", f"{n}_min"], [f"{n}_range"]),
        helper.make_node("Mul", [f"{n}_range", inv255], [f"{n}_scale0"]),
        helper.make_node("Max", [f"{n}_scale0", tiny], [f"{n}_scale_col"]),
        helper.make_node("Div", [f"{n}_min", f"{n}_scale_col"], [f"{n}_negzp"]),
        helper.make_node("Neg", [f"{n}_negzp"], [f"{n}_zp_raw"]),
        helper.make_node("Round", [f"{n}_zp_raw"], [f"{n}_zp_round"]),
        helper.make_node("Clip", [f"{n}_zp_round", lo, hi], [f"{n}_zp_col"]),
        helper.make_node("Mul", [f"{n}_zp_col", f"{n}_scale_col"], [f"{n}_offset_col"]),
        helper.make_node("Reshape", [f"{n}_scale_col", flat], [f"{n}_scale"]),
        helper.make_node("Reshape", [f"{n}_zp_col", flat], [f"{n}_zp_f"]),
        helper.make_node("Cast", [f"{n}_zp_f"], [f"{n}_zp"], to=TensorProto.UINT8),
        helper.make_node("QuantizeLinear", [f"{n}_x2d", f"{n}_scale", f"{n}_zp"], [f"{n}_u8"], axis=0),
    ]
    return nodes, f"{n}_u8", f"{n}_scale_col", f"{n}_offset_col"


def _after_gelu(x: str, producers: dict[str, onnx.NodeProto], depth: int = 3) -> bool:
    """Whether x comes out of a GELU (its values are bounded below by about -0.17)."""
    frontier = [producers[x]] if x in producers else []
    for _ in range(depth):
        if any(node.op_type in ("Erf", "Gelu", "BiasGelu", "FastGelu") for node in frontier):
            return True
        frontier = [producers[i] for node in frontier if node.op_type in ("Mul", "Add", "Div")
                    for i in node.input if i in producers]
    return any(node.op_type in ("Erf", "Gelu", "BiasGelu", "FastGelu") for node in frontier)


def _is_weight_matmul(node: onnx.NodeProto, inits: dict) -> bool:
    """A MatMul by a constant 2-D weight (a linear layer)."""
    return node.op_type == "MatMul" and node.input[1] in inits and len(inits[node.input[1]].dims) == 2


def _is_embedding_gather(node: onnx.NodeProto, inits: dict) -> bool:
    """A Gather from a constant table with a vocabulary's worth of rows (a word embedding)."""
    return (node.op_type == "Gather" and node.input[0] in inits and len(inits[node.input[0]].dims) == 2
            and inits[node.input[0]].dims[0] >= MIN_EMBEDDING_ROWS)


def _biases_to_fold(graph: onnx.GraphProto, inits: dict) -> dict[str, tuple[onnx.NodeProto, str]]:
    """MatMul output -> (its Add, the [N] bias initializer) where that Add is its only consumer."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in graph.output}
    folds = {}
    for node in graph.node:
        if not _is_weight_matmul(node, inits) or node.output[0] in graph_outputs:
            continue
        users = consumers.get(node.output[0], [])
        if len(users) != 1 or users[0].op_type != "Add":
            continue
        add = users[0]
        bias = add.input[0] if add.input[1] == node.output[0] else add.input[1]
        n_cols = inits[node.input[1]].dims[-1]
        if bias in inits and list(inits[bias].dims) == [n_cols] and inits[bias].data_type == TensorProto.FLOAT:
            folds[node.output[0]] = (add, bias)
    return folds


def activation_channel_max(model: onnx.ModelProto, tensors: list[str],
                           feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-channel max |x| of the named tensors over real (unpadded) tokens of the feeds."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for name in tensors:
        if name not in known:
            probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    maxima: dict[str, np.ndarray] = {}
    for feed in feeds:
        real = feed["attention_mask"].reshape(-1).astype(bool)
        for name, value in zip(tensors, session.run(tensors, feed)):
            rows = value.reshape(-1, value.shape[-1])
            if rows.shape[0] == real.shape[0]:
                rows = rows[real]
            channel_max = np.abs(rows).max(axis=0)
            maxima[name] = np.maximum(maxima[name], channel_max) if name in maxima else channel_max
    return maxima


def quantize_per_token(src: str | Path, dst: str | Path, keep_fp32: list[str] | None = None,
                       asymmetric_after_gelu: bool = False,
                       calibration: list[dict[str, np.ndarray]] | None = None,
                       smooth_alpha: float = 0.5, refine: list[str] | None = None) -> dict:
    """Write the batch-independent INT8 model; return a summary of what was quantized.

    keep_fp32: fnmatch patterns of MatMul node names (or weight names) left in fp32.
    asymmetric_after_gelu: inputs coming out of a GELU get per-row asymmetric uint8 (their
    range is one-sided, so symmetric would waste a bit); the zero-point term is subtracted as
    a rank-1 correction (row offset x column sums of the weight). Measured worse on the
    default model than symmetric, so off by default.
    calibration: model feeds; when given, SmoothQuant-style scale migration: each quantized
    input x is divided per channel by s = max|x|^alpha / max|W|^(1 - alpha) (one Mul) and the
    weights' rows multiplied by s, so that outlier channels stop eating every token's range.
    refine: fnmatch patterns of MatMul node names whose input also gets its rounding error
    quantized (a second per-token int8 pass and a second integer GEMM): ~15-bit activations
    at twice the integer work, for the layers that need it.
    """
    model = onnx.load(str(src))
    b = _Builder(model)
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    keep_fp32 = keep_fp32 or []

    def kept(node: onnx.NodeProto) -> bool:
        names = [node.name, *node.input]
        return any(fnmatch.fnmatch(n, pat) for n in names for pat in keep_fp32)

    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        if _is_weight_matmul(node, inits) and not kept(node):
            consumers.setdefault(node.input[0], []).append(node)
    smoothing: dict[str, np.ndarray] = {}
    if calibration:
        act_max = activation_channel_max(model, sorted(consumers), calibration)
        for x, nodes_of_x in consumers.items():
            w_max = np.max([np.abs(numpy_helper.to_array(inits[n.input[1]])).max(axis=1)
                            for n in nodes_of_x], axis=0)
            factor = (np.maximum(act_max[x], 1e-5) ** smooth_alpha
                      / np.maximum(w_max, 1e-5) ** (1 - smooth_alpha))
            smoothing[x] = np.clip(factor, 1e-3, 1e3).astype(np.float32)
        summary_smoothed = len(smoothing)
    else:
        summary_smoothed = 0
    quant_of_input: dict = {}
    new_nodes: list[onnx.NodeProto] = []
    replaced_inits: set[str] = set()
    summary = {"matmul_int8": 0, "matmul_fp32": 0, "gather_int8": 0}

    for node in graph.node:
        if _is_weight_matmul(node, inits):
            if kept(node):
                summary["matmul_fp32"] += 1
                new_nodes.append(node)
                continue
            x, w_name = node.input
            weight = numpy_helper.to_array(inits[w_name]).astype(np.float32)
            if x in smoothing:
                weight = weight * smoothing[x][:, None]
            w_q, w_scale = quantize_weight_per_channel(weight)
            if x not in quant_of_input:
                x_in = x
                if x in smoothing:
                    x_in = b.name(f"{x}_smoothed")
                    new_nodes.append(helper.make_node(
                        "Mul", [x, b.const("inv_smooth", (1.0 / smoothing[x]).astype(np.float32))], [x_in]))
                if asymmetric_after_gelu and _after_gelu(x, producers):
                    nodes, x_q, x_scale, x_offset = _asymmetric_quant_nodes(b, x_in, w_q.shape[0])
                    summary["asymmetric_inputs"] = summary.get("asymmetric_inputs", 0) + 1
                else:
                    (nodes, x_q, x_scale), x_offset = _activation_quant_nodes(b, x_in, w_q.shape[0]), None
                new_nodes.extend(nodes)
                quant_of_input[x] = (x_q, x_scale, x_offset)
            x_q, x_scale, x_offset = quant_of_input[x]
            wq = b.const(f"{w_name}_int8", w_q)
            ws = b.const(f"{w_name}_scale", w_scale)
            n = b.name(node.name or w_name)
            # [rows, K] x [K, N] -> [rows, N], scaled per row (a_scale [rows, 1]) and per column
            if x_offset is None and any(fnmatch.fnmatch(node.name, pat) for pat in refine or []):
                zp = b.const("a_zp", np.array(128, dtype=np.uint8))
                if (x, "residual") not in quant_of_input:
                    base = x_q[:-len("_u8")]
                    residual = f"{base}_residual"
                    new_nodes.extend([
                        helper.make_node("DequantizeLinear", [x_q, f"{base}_scale", f"{base}_zp"],
                                         [f"{base}_dq"], axis=0),
                        helper.make_node("Sub", [f"{base}_x2d", f"{base}_dq"], [residual]),
                    ])
                    nodes, r_q, r_scale = _activation_quant_nodes(b, residual, w_q.shape[0])
                    new_nodes.extend(nodes)
                    quant_of_input[(x, "residual")] = (r_q, r_scale, None)
                r_q, r_scale, _ = quant_of_input[(x, "residual")]
                new_nodes.extend([
                    helper.make_node("MatMulIntegerToFloat", [x_q, wq, x_scale, ws, zp],
                                     [f"{n}_y2d_main"], domain="com.microsoft"),
                    helper.make_node("MatMulIntegerToFloat", [r_q, wq, r_scale, ws, zp],
                                     [f"{n}_y2d_fine"], domain="com.microsoft"),
                    helper.make_node("Add", [f"{n}_y2d_main", f"{n}_y2d_fine"], [f"{n}_y2d"]),
                ])
                summary["refined"] = summary.get("refined", 0) + 1
            elif x_offset is None:
                zp = b.const("a_zp", np.array(128, dtype=np.uint8))
                new_nodes.append(helper.make_node("MatMulIntegerToFloat", [x_q, wq, x_scale, ws, zp],
                                                  [f"{n}_y2d"], domain="com.microsoft"))
            else:
                colsum = b.const(f"{w_name}_colsum", (w_q.astype(np.float64).sum(axis=0) * w_scale)
                                 .astype(np.float32))
                new_nodes.extend([
                    helper.make_node("MatMulIntegerToFloat", [x_q, wq, x_scale, ws],
                                     [f"{n}_y2d_raw"], domain="com.microsoft"),
                    helper.make_node("Mul", [x_offset, colsum], [f"{n}_zp_term"]),
                    helper.make_node("Sub", [f"{n}_y2d_raw", f"{n}_zp_term"], [f"{n}_y2d"]),
                ])
            new_nodes.extend([
                helper.make_node("Shape", [x], [f"{n}_xshape"]),
                helper.make_node("Slice", [f"{n}_xshape", b.const("s0", np.array([0], dtype=np.int64)),
                                           b.const("s1", np.array([-1], dtype=np.int64))], [f"{n}_lead"]),
                helper.make_node("Concat", [f"{n}_lead", b.const("n", np.array([w_q.shape[1]], dtype=np.int64))],
                                 [f"{n}_yshape"], axis=0),
                helper.make_node("Reshape", [f"{n}_y2d", f"{n}_yshape"], [node.output[0]]),
            ])
            replaced_inits.add(w_name)
            summary["matmul_int8"] += 1
        elif _is_embedding_gather(node, inits):
            new_nodes.extend(_int8_gather_nodes(b, node, inits))
            replaced_inits.add(node.input[0])
            summary["gather_int8"] += 1
        else:
            new_nodes.append(node)

    summary["smoothed_inputs"] = summary_smoothed
    _replace_graph(model, new_nodes, replaced_inits, b)
    onnx.save(model, str(dst))
    return summary


def _int8_gather_nodes(b: _Builder, node: onnx.NodeProto, inits: dict) -> list[onnx.NodeProto]:
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


def _replace_graph(model: onnx.ModelProto, new_nodes: list[onnx.NodeProto], replaced_inits: set[str],
                   b: _Builder) -> None:
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


def quantize_ort_dynamic(src: str | Path, dst: str | Path, per_channel: bool = True) -> None:
    """onnxruntime's stock dynamic quantization (per-tensor activations), for comparison only."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), per_channel=per_channel, weight_type=QuantType.QInt8)


def quantize_blockwise(src: str | Path, dst: str | Path, block_size: int = 64) -> dict:
    """Write an INT8 model on onnxruntime's MatMulNBits (bits=8, accuracy_level=4): a comparison
    variant, not shipped.

    Weights: int8, one scale per block of `block_size` along K (per output column).
    Activations: onnxruntime quantizes them to int8 in blocks of `block_size` inside the kernel,
    so the quantization costs no extra graph nodes. Biases are folded into the op. The
    word-embedding table is stored int8 per row, as in quantize_per_token. Measured with
    onnxruntime 1.32: ≥ 99% agreement with fp32 and a little faster than quantize_per_token, but a
    text alone and the same text in a batch differ by up to 2.7e-3 for some lengths, so it is
    not batch-independent.
    """
    model = onnx.load(str(src))
    b = _Builder(model)
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    bias_of_matmul = _biases_to_fold(graph, inits)
    folded_adds = {id(add) for add, _ in bias_of_matmul.values()}
    new_nodes: list[onnx.NodeProto] = []
    replaced_inits: set[str] = set()
    summary = {"matmul_int8": 0, "gather_int8": 0, "biases_folded": 0}
    for node in graph.node:
        if id(node) in folded_adds:
            continue
        if _is_weight_matmul(node, inits):
            w_name = node.input[1]
            weight = numpy_helper.to_array(inits[w_name]).astype(np.float32)  # [K, N]
            k, n_cols = weight.shape
            blocks = -(-k // block_size)
            padded = np.zeros((n_cols, blocks * block_size), dtype=np.float32)
            padded[:, :k] = weight.T
            padded = padded.reshape(n_cols, blocks, block_size)
            scale = np.abs(padded).max(axis=2) / 127.0
            scale[scale == 0] = 1.0
            # stored unsigned around the default zero point of 128
            q = (np.clip(np.rint(padded / scale[:, :, None]), -127, 127) + 128).astype(np.uint8)
            add, bias = bias_of_matmul.get(node.output[0], (None, ""))
            inputs = [node.input[0], b.const(f"{w_name}_int8_blocks", q),
                      b.const(f"{w_name}_block_scale", scale.reshape(-1).astype(np.float32))]
            if bias:
                inputs += ["", "", bias]
                summary["biases_folded"] += 1
            new_nodes.append(helper.make_node(
                "MatMulNBits", inputs, [add.output[0] if add is not None else node.output[0]],
                name=b.name(node.name or w_name), domain="com.microsoft",
                K=k, N=n_cols, bits=8, block_size=block_size, accuracy_level=4))
            replaced_inits.add(w_name)
            summary["matmul_int8"] += 1
        elif _is_embedding_gather(node, inits):
            new_nodes.extend(_int8_gather_nodes(b, node, inits))
            replaced_inits.add(node.input[0])
            summary["gather_int8"] += 1
        else:
            new_nodes.append(node)
    _replace_graph(model, new_nodes, replaced_inits, b)
    onnx.save(model, str(dst))
    return summary
