"""Which model directory the commands use: the directory given, else the named model (`catalog`),
else SC_MODEL_DIR, else the default model in the cache. Resolving never builds: a named model that
is not built yet raises `ModelNotBuilt`, and the command decides whether to build it (`startup`)."""

from __future__ import annotations

import os
from pathlib import Path

from stream_classifier.model.catalog import DEFAULT_MODEL, NAMES, cache_dir, is_model_name
from stream_classifier.model.manifest import MANIFEST_FILE


def default_model_dir() -> Path:
    return Path(os.environ.get("SC_MODEL_DIR") or cache_dir(DEFAULT_MODEL))


class NotAModel(ValueError):
    """A path given as the model that holds no built model."""


class ModelNotBuilt(LookupError):
    """A named (or the default) model whose directory has no built model yet."""

    def __init__(self, name: str, path: Path):
        super().__init__(f"no model at {path}")
        self.name = name
        self.path = path


def resolve_model_dir(model: str | None, name: str | None = None) -> Path:
    """`model`: a built model directory or a model name; `name`: the settings' model name."""
    if model and not is_model_name(model):
        path = Path(model)
        if not (path / MANIFEST_FILE).exists():
            raise NotAModel(
                f"{path} is not a built model directory (no {MANIFEST_FILE}) nor a model name "
                f"({', '.join(NAMES)}, or a distilled student's)"
            )
        return path
    name = model or name
    path = cache_dir(name) if name else default_model_dir()
    if not (path / MANIFEST_FILE).exists():
        raise ModelNotBuilt(name or DEFAULT_MODEL, path)
    return path
