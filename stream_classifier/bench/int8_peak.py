"""How fast this CPU multiplies int8 matrices through onnxruntime: the ceiling the engine's integer
GEMMs are compared with in `bench profile`.

One MatMulInteger (uint8 activations x int8 constant weights, int32 out, what onnxruntime's
MatMulIntegerToFloat runs inside) per shape, the engine's thread count, best of several runs.
"""

from __future__ import annotations

import time

import numpy as np

SHAPES = {  # name: (M rows of activations, K, N)
    "ffn in (2048 tokens x 384 -> 1536)": (2048, 384, 1536),
    "ffn out (2048 tokens x 1536 -> 384)": (2048, 1536, 384),
    "square 1024": (1024, 1024, 1024),
}


def _session(k: int, n: int, threads: int | None):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).integers(-127, 128, size=(k, n), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "int8_gemm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, ["m", k])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, ["m", n])],
        [numpy_helper.from_array(weights, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def measure(threads: int | None = None, repeats: int = 7) -> dict[str, float]:
    """GOPS (2 x multiply-adds per second / 1e9) for each shape: the best of `repeats` runs."""
    result = {}
    for name, (m, k, n) in SHAPES.items():
        session = _session(k, n, threads)
        a = np.random.default_rng(1).integers(0, 256, size=(m, k), dtype=np.uint8)
        session.run(None, {"a": a})
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            session.run(None, {"a": a})
            best = min(best, time.perf_counter() - t0)
        result[name] = 2 * m * k * n / best / 1e9
    return result


def engine_int8_ops(token_counts: list[int], hidden: int, ffn: int, layers: int) -> float:
    """Integer multiply-adds x 2 that the encoder's quantized linear layers do for these rows
    (padded lengths): Q, K, V, attention output (hidden x hidden each) and the two FFN matrices."""
    per_token = layers * (4 * hidden * hidden + 2 * hidden * ffn)
    return 2.0 * per_token * float(sum(token_counts))
