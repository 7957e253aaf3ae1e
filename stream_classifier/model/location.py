"""Which model directory the commands use: the directory given, else the named model (`catalog`),
else SC_MODEL_DIR, else the default model in the cache; a named model is built on first use."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stream_classifier.exit_codes import EXIT_CONFIG
from stream_classifier.model.catalog import (DEFAULT_MODEL, INSTALL_BUILD_EXTRA, NAMES, cache_dir,
                                              missing_build_packages)
from stream_classifier.model.manifest import MANIFEST_FILE


def default_model_dir() -> Path:
    return Path(os.environ.get("SC_MODEL_DIR") or cache_dir(DEFAULT_MODEL))


class ModelUnavailable(SystemExit):
    """No model, and none can be built here: exit 2 with one line saying what to install."""

    def __init__(self, message: str):
        super().__init__(EXIT_CONFIG)
        self.message = message

    def __str__(self) -> str:
        return self.message


def resolve_model_dir(model: str | None, name: str | None = None) -> Path:
    """`model`: a built model directory or a model name; `name`: the settings' model name."""
    if model and model not in NAMES:
        path = Path(model)
        if not (path / MANIFEST_FILE).exists():
            raise SystemExit(f"error: {path} is not a built model directory (no {MANIFEST_FILE}) "
                             f"nor a model name ({', '.join(NAMES)})")
        return path
    name = model or name
    path = cache_dir(name) if name else default_model_dir()
    name = name or DEFAULT_MODEL
    if not (path / MANIFEST_FILE).exists():
        from stream_classifier.model.build import build_named

        missing = missing_build_packages()
        if missing:
            raise ModelUnavailable(f"no model at {path}, and building {name} needs {', '.join(missing)} "
                                   f"(the build extra): {INSTALL_BUILD_EXTRA}")
        print(f"{name} is not built yet; building it into {path}", file=sys.stderr)
        build_named(name, path)
    return path
