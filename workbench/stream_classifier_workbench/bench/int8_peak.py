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
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
        "int8_gemm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, ["m", k])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, ["m", n])],
        [numpy_helper.from_array(weights, "b")],
    )
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


def int8_macs_per_token(model_path) -> int:
    """Integer multiply-adds a token costs in the model's MatMulIntegerToFloat nodes: K x N of
    each one's weight, second passes and fused query/key/value included."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    dims = {init.name: list(init.dims) for init in model.graph.initializer}
    return sum(
        int(np.prod(dims[node.input[1]]))
        for node in model.graph.node
        if node.op_type == "MatMulIntegerToFloat" and node.input[1] in dims
    )


def engine_int8_ops(token_counts: list[int], macs_per_token: int) -> float:
    """Integer operations (2 per multiply-add) the quantized linear layers do for these rows."""
    return 2.0 * macs_per_token * float(sum(token_counts))
