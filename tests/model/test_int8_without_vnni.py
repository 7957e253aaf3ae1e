"""INT8 on an x86 CPU without VNNI, whatever CPU runs the suite: the checks run under
`qemu-x86_64 -cpu Haswell` (Debian's qemu-user), where onnxruntime sees AVX2 only and takes the
uint8 x int8 GEMM whose vpmaddubsw adds pairs of byte products into saturating 16-bit lanes.

The first test proves the emulation takes that kernel: with full-range weights onnxruntime
returns exactly the saturating model of the product, not the exact one (the shipped scheme of
release 0.1 met this and lost half its output range); weights in [-64, 64] give the exact sums;
so does a full-range model run with session.x64quantprecision (the runtime's fallback for
models built before the 7-bit weights). Then the small-graph scheme tests, and 200 real texts
through the default model and through the review-tuned model (what `make demo` runs) must get the
labels they get natively (their agreement with fp32 is test_accuracy_bars.py's and
test_reviews_tuned.py's, on 2,000 texts, natively).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from system_tools import REPO, find_tool, needs

from stream_classifier.labels import load_label_set
from stream_classifier.model.catalog import REVIEWS_TUNED
from stream_classifier.model.engines import load_engine
from stream_classifier.model.runtime import FP32_FILE
from stream_classifier_workbench.datasets.reviews import stream_texts

QEMU = find_tool("qemu-x86_64", "apt-get install qemu-user")
CPU = "Haswell"  # AVX2 and FMA, no AVX-512, no VNNI, no AMX
PROBE = Path(__file__).with_name("int8_probe.py")
TEXTS = 200

pytestmark = needs(QEMU, "qemu-x86_64", "apt-get install qemu-user")


def emulated(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, QEMU_CPU=CPU, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [QEMU, sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_emulated_cpu_takes_the_saturating_kernel_and_seven_bit_weights_do_not_meet_it():
    report = json.loads(emulated(str(PROBE), "gemm").stdout.strip().splitlines()[-1])
    assert report["cpu"]["int8_kernel"] == "avx2-vpmaddubsw", report["cpu"]
    full, seven, fallback = report["full_range"], report["seven_bit"], report["full_range_exact_option"]
    assert full["saturated_pairs"] > 0
    tolerance = 1e-5 * full["output_scale"]
    assert full["max_diff_from_saturating"] <= tolerance < full["max_diff_from_exact"], full
    assert seven["saturated_pairs"] == 0 and seven["max_diff_from_exact"] <= tolerance, seven
    assert fallback["max_diff_from_exact"] <= tolerance, fallback


def test_the_small_graph_scheme_tests_pass_on_the_emulated_cpu():
    result = emulated("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/model/test_quantize_schemes.py")
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout[-3000:]


@pytest.mark.parametrize("model", ["default", REVIEWS_TUNED])
def test_real_texts_get_the_same_int8_scores_on_the_emulated_cpu(model, request, tmp_path):
    from stream_classifier_workbench.building.build import build_named

    model_dir = request.getfixturevalue("default_model_dir") if model == "default" else build_named(model, quiet=True)
    out = tmp_path / "emulated.npy"
    report = json.loads(
        emulated(str(PROBE), "texts", str(model_dir), str(TEXTS), str(out)).stdout.strip().splitlines()[-1]
    )
    assert report["cpu"]["int8_kernel"] == "avx2-vpmaddubsw"
    on_avx2 = np.load(out)
    texts = stream_texts(limit=TEXTS, seed=23)
    label_set = load_label_set(REPO / "configs/labels/sentiment.yaml")

    def scores(variant):
        engine = load_engine(model_dir, variant, cache_entries=0)
        return np.concatenate([engine.classify(texts[i : i + 16], label_set).scores for i in range(0, TEXTS, 16)])

    here, fp32 = scores("model.onnx"), scores(FP32_FILE)
    figures = {
        "labels_as_here": float(np.mean(on_avx2.argmax(1) == here.argmax(1))),
        "agreement_with_fp32": float(np.mean(on_avx2.argmax(1) == fp32.argmax(1))),
        "mean_score_diff_vs_here": float(np.abs(on_avx2 - here).mean()),
        "mean_score_diff_int8_vs_fp32_here": float(np.abs(here - fp32).mean()),
    }
    print(figures)
    # the integer products are the same; fp32 kernels between them (LayerNorm, GELU, softmax) are
    # not bit-identical across instruction sets, and a last-bit difference can move an activation
    # to the next int8 level: scores differ a little, far less than INT8 differs from fp32
    assert figures["labels_as_here"] >= 0.99
    assert figures["mean_score_diff_vs_here"] < 0.25 * figures["mean_score_diff_int8_vs_fp32_here"]
