"""Run on a CPU or under an emulated one (test_int8_without_vnni.py); prints one JSON object.

    python int8_probe.py gemm                         # what onnxruntime's int8 GEMM does here
    python int8_probe.py texts MODEL_DIR COUNT OUT    # INT8 scores of COUNT real texts -> OUT.npy

`gemm` runs one MatMulIntegerToFloat the way the shipped scheme does (per-token uint8 around
128, per-channel int8 weights) and compares what onnxruntime returns with two integer models of
the product: exact int32 sums, and vpmaddubsw's (each adjacent pair of byte products summed into
a saturating int16). Full-range weights (+-127) tell the two apart; weights in [-64, 64] must
give the exact sums on every CPU; full-range weights with session.x64quantprecision too.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def gemm_probe() -> dict:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from stream_classifier.model.cpu_features import cpu_features

    rng = np.random.default_rng(0)
    rows, k, n = 64, 384, 256
    x = rng.standard_normal((rows, k)).astype(np.float32)
    x[:, 7] *= 12  # an outlier channel, as LayerNorm outputs have
    x_scale = (np.abs(x).max(axis=1, keepdims=True) / 127).astype(np.float32)
    x_u8 = (np.clip(np.rint(x / x_scale), -127, 127) + 128).astype(np.uint8)
    weight = rng.standard_normal((k, n)).astype(np.float32)

    def onnxruntime_result(w_q: np.ndarray, w_scale: np.ndarray, exact_option: bool) -> np.ndarray:
        graph = helper.make_graph(
            [helper.make_node("MatMulIntegerToFloat", ["a", "b", "sa", "sb", "zp"], ["y"], domain="com.microsoft")],
            "probe",
            [
                helper.make_tensor_value_info("a", TensorProto.UINT8, [rows, k]),
                helper.make_tensor_value_info("sa", TensorProto.FLOAT, [rows, 1]),
            ],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, n])],
            [
                numpy_helper.from_array(w_q, "b"),
                numpy_helper.from_array(w_scale, "sb"),
                numpy_helper.from_array(np.array(128, np.uint8), "zp"),
            ],
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        if exact_option:
            options.add_session_config_entry("session.x64quantprecision", "1")
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return session.run(None, {"a": x_u8, "sa": x_scale})[0]

    def compare(levels: int, exact_option: bool = False) -> dict:
        w_scale = (np.abs(weight).max(axis=0) / levels).astype(np.float32)
        w_q = np.clip(np.rint(weight / w_scale), -levels, levels).astype(np.int8)
        a, b = x_u8.astype(np.int64), w_q.astype(np.int64)
        pair_sums = (a.reshape(rows, k // 2, 2)[:, :, :, None] * b.reshape(k // 2, 2, n)[None]).sum(axis=2)
        saturating = np.clip(pair_sums, -32768, 32767).sum(axis=1)
        exact = a @ b

        def as_float(acc):
            return ((acc - 128 * b.sum(axis=0)) * x_scale * w_scale).astype(np.float32)

        got = onnxruntime_result(w_q, w_scale, exact_option)
        return {
            "saturated_pairs": int((np.abs(pair_sums) > 32767).sum()),
            "max_diff_from_exact": float(np.abs(got - as_float(exact)).max()),
            "max_diff_from_saturating": float(np.abs(got - as_float(saturating)).max()),
            "output_scale": float(np.abs(as_float(exact)).max()),
        }

    return {
        "cpu": cpu_features().as_dict(),
        "full_range": compare(127),
        "seven_bit": compare(64),
        "full_range_exact_option": compare(127, exact_option=True),
    }


def texts_probe(model_dir: str, count: int, out: str) -> dict:
    from stream_classifier.labels import load_label_set
    from stream_classifier.model.cpu_features import cpu_features
    from stream_classifier.model.engines import load_engine
    from stream_classifier_workbench.datasets.reviews import stream_texts

    texts = stream_texts(limit=count, seed=23)
    label_set = load_label_set("configs/labels/sentiment.yaml")
    engine = load_engine(model_dir, cache_entries=0)
    scores = np.concatenate([engine.classify(texts[i : i + 16], label_set).scores for i in range(0, len(texts), 16)])
    np.save(out, scores)
    return {"cpu": cpu_features().as_dict(), "texts": len(texts)}


if __name__ == "__main__":
    if sys.argv[1] == "gemm":
        print(json.dumps(gemm_probe()))
    else:
        print(json.dumps(texts_probe(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
