"""The runtime wheel carries what `run` and `serve` load, and nothing of the workbench: no model
building, training, evaluation, benchmarks or their data."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_runtime_wheel_has_no_workbench_and_ships_the_label_sets(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("stream_classifier-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "stream_classifier/stream/pipeline.py" in names
    assert "stream_classifier/label_sets/opinion_zh.yaml" in names  # classify's default, in any install
    assert "stream_classifier/serve/web/index.html" in names
    assert not [n for n in names if "workbench" in n or n.endswith((".npz", ".onnx"))]
    assert not [n for n in names if n.startswith("stream_classifier/") and "/weights/" in n]
