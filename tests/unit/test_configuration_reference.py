"""docs/configuration.md is generated from the settings models, the way schemas/ is from the record
models: every setting is described on its field, the committed reference is what the models render,
and configs/default.yaml shows every setting a user would set in a file."""

import importlib.util
import sys
from pathlib import Path

import yaml

from stream_classifier.settings import Settings

REPO = Path(__file__).resolve().parents[2]
RENDERER = REPO / "workbench" / "stream_classifier_workbench" / "devtools" / "config_reference.py"
REFERENCE = REPO / "docs" / "configuration.md"

# Settings deliberately absent from configs/default.yaml, each with its reason.
NOT_IN_DEFAULT_YAML = {
    # credentials: given by environment (SC_KAFKA__SASL_USERNAME, SC_KAFKA__SASL_PASSWORD), never kept in a
    # committed file; the file's comment under kafka: names the variables
    "kafka.sasl_username",
    "kafka.sasl_password",
    # a secret (the bearer token for label-set writes): SC_SERVE__TOKEN, named in the file's comment under serve:
    "serve.token",
}


def _renderer():
    """Loaded by path: it imports only stream_classifier.settings and the standard library, so the
    check does not depend on the workbench package being installed or importable."""
    name = "_config_reference_under_test"
    spec = importlib.util.spec_from_file_location(name, RENDERER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def _models(model=Settings, seen=None):
    seen = [] if seen is None else seen
    seen.append(model)
    for field in model.model_fields.values():
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields") and annotation not in seen:
            _models(annotation, seen)
    return seen


def test_the_committed_reference_matches_the_models():
    renderer = _renderer()
    assert REFERENCE.read_text(encoding="utf-8") == renderer.render(), (
        f"docs/configuration.md drifted from the settings models: run `{renderer.GENERATE_COMMAND}` "
        "(from the repository root, with the workbench installed) and commit the result"
    )


def test_every_setting_is_described_on_its_field():
    undescribed = [
        f"{model.__name__}.{name}"
        for model in _models()
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert undescribed == [], "give these fields a Field(description=...): the reference is generated from them"


def test_default_yaml_shows_every_setting_but_the_listed_ones():
    data = yaml.safe_load((REPO / "configs" / "default.yaml").read_text(encoding="utf-8"))

    def present(path):
        node = data
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return True

    keys = {".".join(path): path for path, _ in _renderer().leaves()}
    assert set(NOT_IN_DEFAULT_YAML) <= set(keys), "the allow-list names settings that no longer exist"
    missing = sorted(key for key, path in keys.items() if not present(path) and key not in NOT_IN_DEFAULT_YAML)
    assert missing == [], (
        "add these settings to configs/default.yaml with their defaults and a comment, or list "
        "them in NOT_IN_DEFAULT_YAML with the reason"
    )
    listed_but_present = sorted(key for key in NOT_IN_DEFAULT_YAML if present(keys[key]))
    assert listed_but_present == [], "in configs/default.yaml after all: take them off NOT_IN_DEFAULT_YAML"


def test_the_reference_names_each_setting_and_its_variable_and_shows_no_secret(monkeypatch):
    monkeypatch.setenv("SC_SERVE__TOKEN", "hunter2")
    monkeypatch.setenv("SC_KAFKA__SASL_PASSWORD", "hunter3")
    renderer = _renderer()
    text = renderer.render()
    for path, _ in renderer.leaves():
        assert f"| `{'.'.join(path)}` | `SC_{'__'.join(path).upper()}` |" in text
    assert "hunter" not in text, "the reference is rendered from the models' defaults, never the environment"
    assert renderer.GENERATE_COMMAND in text.split("\n# ")[0], "the header says how to regenerate the file"
