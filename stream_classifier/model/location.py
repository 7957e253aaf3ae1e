"""Which model directory the commands use: the one given, else SC_MODEL_DIR, else the default
model in the cache, built on first use."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stream_classifier.exit_codes import EXIT_CONFIG
from stream_classifier.model.build import DEFAULT_MODEL_NAME
from stream_classifier.model.manifest import MANIFEST_FILE, model_cache_root


def default_model_dir() -> Path:
    return Path(os.environ.get("SC_MODEL_DIR") or model_cache_root() / DEFAULT_MODEL_NAME)


class ModelUnavailable(SystemExit):
    """No model, and none can be built here: exit 2 with one line saying what to install."""

    def __init__(self, message: str):
        super().__init__(EXIT_CONFIG)
        self.message = message

    def __str__(self) -> str:
        return self.message


def resolve_model_dir(model: str | None) -> Path:
    """The model directory to use; the default model is built on first use."""
    if model:
        path = Path(model)
        if not (path / MANIFEST_FILE).exists():
            raise SystemExit(f"error: {path} is not a built model directory (no {MANIFEST_FILE})")
        return path
    path = default_model_dir()
    if not (path / MANIFEST_FILE).exists():
        from stream_classifier.model.build import BuildError, build_default, require_build_extra

        try:
            require_build_extra()
        except BuildError as exc:
            raise ModelUnavailable(f"no model at {path}, and {exc}") from None
        print(f"the default model is not built yet; building it into {path}", file=sys.stderr)
        build_default(path)
    return path
