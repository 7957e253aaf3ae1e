"""INT8 variants kept only for `stream-classifier model compare-quantization` (and onnxruntime's
quantize_dynamic for the engine benchmark's reference row); none is shipped. The shipped scheme is
quantize.py's per-token quantizer; the per-token variants here change one of its steps:

- SmoothQuant-style scale migration (`calibration`, `smooth_alpha`): each quantized input x is
  divided per channel by s = max|x|^alpha / max|W|^(1 - alpha) (one Mul) and the weights' rows
  multiplied by s, so that outlier channels stop eating every token's range;
- per-row asymmetric uint8 for inputs coming out of a GELU (`asymmetric_after_gelu`): their range
  is one-sided, so symmetric would waste a bit; the zero-point term is subtracted as a rank-1
  correction (row offset x column sums of the weight);
- `keep_fp32`: MatMuls (by node or weight name pattern) left in fp32;

and two are other schemes: onnxruntime's quantize_dynamic (per-tensor activations) and
MatMulNBits blockwise int8. Measured results: docs/int8.md.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from stream_classifier_workbench.building.quantize import (
    GraphBuilder,
    PerTokenQuantizer,
    bias_adds,
    int8_gather_nodes,
    is_embedding_gather,
    is_weight_matmul,
    replace_graph,
)


def _asymmetric_quant_nodes(b: GraphBuilder, x: str, k: int) -> tuple[list[onnx.NodeProto], str, str, str]:
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
        frontier = [
            producers[i]
            for node in frontier
            if node.op_type in ("Mul", "Add", "Div")
            for i in node.input
            if i in producers
        ]
    return any(node.op_type in ("Erf", "Gelu", "BiasGelu", "FastGelu") for node in frontier)


def activation_channel_max(
    model: onnx.ModelProto, tensors: list[str], feeds: list[dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
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


class PerTokenVariant(PerTokenQuantizer):
    """The shipped per-token scheme with one of the changes above."""

    def __init__(
        self,
        model: onnx.ModelProto,
        refine: list[str] | None = None,
        keep_fp32: list[str] | None = None,
        asymmetric_after_gelu: bool = False,
        calibration: list[dict[str, np.ndarray]] | None = None,
        smooth_alpha: float = 0.5,
    ):
        super().__init__(model, refine)
        self.keep_fp32 = keep_fp32 or []
        self.asymmetric_after_gelu = asymmetric_after_gelu
        self.producers = {out: node for node in model.graph.node for out in node.output}
        self.summary.update(matmul_fp32=0, smoothed_inputs=0)
        self.smoothing: dict[str, np.ndarray] = {}
        if calibration:
            self.smoothing = self._smoothing(calibration, smooth_alpha)
            self.summary["smoothed_inputs"] = len(self.smoothing)

    def _smoothing(self, calibration, alpha: float) -> dict[str, np.ndarray]:
        consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.model.graph.node:
            if is_weight_matmul(node, self.inits) and not self._kept(node):
                consumers.setdefault(node.input[0], []).append(node)
        act_max = activation_channel_max(self.model, sorted(consumers), calibration)
        smoothing = {}
        for x, nodes_of_x in consumers.items():
            w_max = np.max(
                [np.abs(numpy_helper.to_array(self.inits[n.input[1]])).max(axis=1) for n in nodes_of_x], axis=0
            )
            factor = np.maximum(act_max[x], 1e-5) ** alpha / np.maximum(w_max, 1e-5) ** (1 - alpha)
            smoothing[x] = np.clip(factor, 1e-3, 1e3).astype(np.float32)
        return smoothing

    def _kept(self, node: onnx.NodeProto) -> bool:
        return any(fnmatch.fnmatch(n, pat) for n in [node.name, *node.input] for pat in self.keep_fp32)

    def quantizes(self, node: onnx.NodeProto) -> bool:
        if self._kept(node):
            self.summary["matmul_fp32"] += 1
            return False
        return True

    def prepared_weight(self, x: str, weight: np.ndarray) -> np.ndarray:
        return weight * self.smoothing[x][:, None] if x in self.smoothing else weight

    def quantized_input(self, x: str, k: int) -> tuple:
        x_in = x
        if x in self.smoothing:
            x_in = self.b.name(f"{x}_smoothed")
            self.nodes.append(
                helper.make_node(
                    "Mul", [x, self.b.const("inv_smooth", (1.0 / self.smoothing[x]).astype(np.float32))], [x_in]
                )
            )
        if self.asymmetric_after_gelu and _after_gelu(x, self.producers):
            nodes, x_q, x_scale, x_offset = _asymmetric_quant_nodes(self.b, x_in, k)
            self.nodes.extend(nodes)
            self.summary["asymmetric_inputs"] = self.summary.get("asymmetric_inputs", 0) + 1
            return x_q, x_scale, x_offset
        return super().quantized_input(x_in, k)

    def matmul_nodes(self, node, x, quantized, wq, ws, n, w_q, w_scale, bias=None) -> None:
        if len(quantized) == 2:
            super().matmul_nodes(node, x, quantized, wq, ws, n, w_q, w_scale, bias)
            return
        x_q, x_scale, x_offset = quantized
        colsum = self.b.const(
            f"{node.input[1]}_colsum", (w_q.astype(np.float64).sum(axis=0) * w_scale).astype(np.float32)
        )
        self.nodes.extend(
            [
                helper.make_node(
                    "MatMulIntegerToFloat", [x_q, wq, x_scale, ws], [f"{n}_y2d_raw"], domain="com.microsoft"
                ),
                helper.make_node("Mul", [x_offset, colsum], [f"{n}_zp_term"]),
                helper.make_node("Sub", [f"{n}_y2d_raw", f"{n}_zp_term"], [f"{n}_y2d_nobias" if bias else f"{n}_y2d"]),
            ]
        )
        if bias:
            self.nodes.append(helper.make_node("Add", [f"{n}_y2d_nobias", bias], [f"{n}_y2d"]))


def quantize_per_token_variant(src: str | Path, dst: str | Path, **options) -> dict:
    """quantize.quantize_per_token with one of the changes of PerTokenVariant."""
    model = onnx.load(str(src))
    summary = PerTokenVariant(model, **options).run()
    onnx.save(model, str(dst))
    return summary


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
    b = GraphBuilder(model)
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    bias_of_matmul = bias_adds(graph, inits)
    folded_adds = {id(add) for add, _ in bias_of_matmul.values()}
    new_nodes: list[onnx.NodeProto] = []
    replaced_inits: set[str] = set()
    summary = {"matmul_int8": 0, "gather_int8": 0, "biases_folded": 0}
    for node in graph.node:
        if id(node) in folded_adds:
            continue
        if is_weight_matmul(node, inits):
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
            inputs = [
                node.input[0],
                b.const(f"{w_name}_int8_blocks", q),
                b.const(f"{w_name}_block_scale", scale.reshape(-1).astype(np.float32)),
            ]
            if bias:
                inputs += ["", "", bias]
                summary["biases_folded"] += 1
            new_nodes.append(
                helper.make_node(
                    "MatMulNBits",
                    inputs,
                    [add.output[0] if add is not None else node.output[0]],
                    name=b.name(node.name or w_name),
                    domain="com.microsoft",
                    K=k,
                    N=n_cols,
                    bits=8,
                    block_size=block_size,
                    accuracy_level=4,
                )
            )
            replaced_inits.add(w_name)
            summary["matmul_int8"] += 1
        elif is_embedding_gather(node, inits):
            new_nodes.extend(int8_gather_nodes(b, node, inits))
            replaced_inits.add(node.input[0])
            summary["gather_int8"] += 1
        else:
            new_nodes.append(node)
    replace_graph(model, new_nodes, replaced_inits, b)
    onnx.save(model, str(dst))
    return summary
