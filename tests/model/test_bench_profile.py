"""`bench profile` on the real default model: every phase measured, onnxruntime's operators named."""

import json

from stream_classifier_workbench.bench.profile import format_profile, run_profile


def test_profile_splits_a_batch_into_phases_and_operators(default_model_dir, tmp_path):
    report = run_profile(tmp_path, texts=48, batch_size=16)
    assert set(report["phases_s"]) == {"tokenize", "assemble (padding)", "inference", "scoring"}
    assert all(seconds > 0 for seconds in report["phases_s"].values())
    # the shipped INT8 graph: integer GEMMs with per-token activation quantization
    assert {"MatMulIntegerToFloat", "QuantizeLinear"} <= set(report["operators_s"])
    assert report["texts"] == 48 and report["tokens"]["max"] >= report["tokens"]["p50"] > 0
    assert json.loads((tmp_path / "bench-profile.json").read_text())["phases_s"] == report["phases_s"]
    assert "| inference |" in format_profile(report)
