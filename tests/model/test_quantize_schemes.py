"""The shipped per-token quantizer and the comparison variants on a small hand-made graph (an
embedding table, a linear layer with GELU, and two linear layers sharing its output): every
variant builds a valid model close to fp32, and the shipped one gives a row the same output
alone and in a batch, keeps every weight in [-64, 64] and fuses the two layers that share an
input. test_int8_without_vnni.py runs this file again on an emulated AVX2-only CPU."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from stream_classifier_workbench.building.calibration import matmul_input_grams
from stream_classifier_workbench.building.quantize import WEIGHT_LEVELS, quantize_per_token
from stream_classifier_workbench.building.quantize_variants import quantize_blockwise, quantize_per_token_variant

ROWS = 4096


def small_graph(path) -> None:
    rng = np.random.default_rng(0)

    def weight(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    scalars = [
        numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("sqrt2", 2**0.5), ("one", 1.0), ("half", 0.5))
    ]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["emb"], name="/emb/Gather"),
        helper.make_node("MatMul", ["emb", "W1"], ["h0"], name="/layer.0/fc1/MatMul"),
        helper.make_node("Add", ["h0", "b1"], ["h"]),
        helper.make_node("Div", ["h", "sqrt2"], ["hd"]),
        helper.make_node("Erf", ["hd"], ["he"]),
        helper.make_node("Add", ["he", "one"], ["hp"]),
        helper.make_node("Mul", ["h", "hp"], ["hm"]),
        helper.make_node("Mul", ["hm", "half"], ["g"]),
        helper.make_node("MatMul", ["g", "W2"], ["o2"], name="/layer.1/fc2/MatMul"),
        helper.make_node("MatMul", ["g", "W3"], ["o3"], name="/layer.1/fc3/MatMul"),
        helper.make_node("Add", ["o2", "o3"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "T"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["B", "T"]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["B", "T", 16])],
        [
            weight("table", (ROWS, 32)),
            weight("W1", (32, 64)),
            weight("b1", (64,)),
            weight("W2", (64, 16)),
            weight("W3", (64, 16)),
            *scalars,
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def run(path, ids):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["out"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    path = tmp_path_factory.mktemp("quant") / "fp32.onnx"
    small_graph(path)
    return path


IDS = np.random.default_rng(1).integers(0, ROWS, (4, 6)).astype(np.int64)


@pytest.mark.parametrize(
    "name, build",
    [
        ("per-token", lambda s, d: quantize_per_token(s, d)),
        ("per-token+refine", lambda s, d: quantize_per_token(s, d, refine=["*layer.1/*"])),
        (
            "smoothquant",
            lambda s, d: quantize_per_token_variant(
                s, d, calibration=[{"input_ids": IDS, "attention_mask": np.ones_like(IDS)}], smooth_alpha=0.8
            ),
        ),
        ("asymmetric-gelu", lambda s, d: quantize_per_token_variant(s, d, asymmetric_after_gelu=True)),
        ("keep-fp32", lambda s, d: quantize_per_token_variant(s, d, keep_fp32=["*layer.1/*"])),
        ("blockwise-32", lambda s, d: quantize_blockwise(s, d, block_size=32)),
    ],
)
def test_each_variant_stays_close_to_fp32(fp32, tmp_path, name, build):
    dst = tmp_path / f"{name}.onnx"
    summary = build(fp32, dst)
    assert summary["matmul_int8"] >= 1 and summary["gather_int8"] == 1
    reference, quantized = run(fp32, IDS), run(dst, IDS)
    assert np.abs(quantized - reference).max() < 0.05 * np.abs(reference).max(), name


def test_the_shipped_scheme_gives_a_row_the_same_output_alone_and_in_a_batch(fp32, tmp_path):
    dst = tmp_path / "shipped.onnx"
    calibration = np.random.default_rng(2).integers(0, ROWS, (16, 6)).astype(np.int64)
    grams = matmul_input_grams(fp32, [{"input_ids": calibration, "attention_mask": np.ones_like(calibration)}])
    summary = quantize_per_token(fp32, dst, refine=["*layer.1/*"], grams=grams)
    assert summary == {
        "matmul_int8": 3,
        "gather_int8": 1,
        "refined": 1,
        "fused_groups": 1,
        "weight_levels": WEIGHT_LEVELS,
        "weight_rounding": "gptq",
    }
    model = onnx.load(str(dst))
    weights = {i.input[1] for i in model.graph.node if i.op_type == "MatMulIntegerToFloat"}
    for init in model.graph.initializer:
        if init.name in weights:
            assert np.abs(numpy_helper.to_array(init).astype(int)).max() <= WEIGHT_LEVELS
    reference, batched = run(fp32, IDS), run(dst, IDS)
    assert np.abs(batched - reference).max() < 0.05 * np.abs(reference).max()
    for row in range(len(IDS)):
        assert np.array_equal(run(dst, IDS[row : row + 1])[0], batched[row])
