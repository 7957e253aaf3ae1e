"""What `run`, `serve` and `classify` do before their work: settings -> logging -> model -> engine,
and the one mapping of what can go wrong on the way to an exit code and a line naming the field.

A named model that is not built yet is built here, by the builder the workbench registers
(entry-point group `stream_classifier.model_builders`); without the workbench the command exits 2
saying what to install.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from stream_classifier.exit_codes import EXIT_CONFIG
from stream_classifier.model.catalog import INSTALL_WORKBENCH, MODEL_BUILDERS, ModelBuildError, UnknownModel
from stream_classifier.model.location import ModelNotBuilt, NotAModel, resolve_model_dir
from stream_classifier.observability import setup_logging
from stream_classifier.settings import Settings, SettingsError, load_settings


class StartupError(Exception):
    """Start-up cannot go on: `field` names the setting or option at fault."""

    def __init__(self, field: str | None, message: str, code: int = EXIT_CONFIG):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.code = code


def exit_on_startup_error(command: Callable[[], int]) -> int:
    try:
        return command()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code


def settings_from(config: str | Path | None, **overrides) -> Settings:
    try:
        settings = load_settings(config, **overrides)
    except SettingsError as exc:
        raise StartupError(None, str(exc)) from exc
    setup_logging(settings.logging.level, settings.logging.format)
    return settings


def _builder(name: str) -> Callable[[str, Path], Path] | None:
    for entry in entry_points(group=MODEL_BUILDERS, name="named"):
        try:
            return entry.load()
        except ImportError:
            return None
    return None


def model_dir(model: str | None, name: str | None = None, field: str = "model.dir") -> Path:
    """The model directory to load; a named model not built yet is built first when the
    workbench is installed."""
    try:
        return resolve_model_dir(model, name)
    except (NotAModel, UnknownModel) as exc:
        raise StartupError(field, str(exc)) from exc
    except ModelNotBuilt as missing:
        build = _builder(missing.name)
        if build is None:
            raise StartupError(
                field,
                f"no model at {missing.path}, and building {missing.name} needs the "
                f"workbench (stream-classifier-workbench): {INSTALL_WORKBENCH}",
            ) from missing
        try:
            return build(missing.name, missing.path)
        except ModelBuildError as exc:
            raise StartupError(field, f"no model at {missing.path}, and {exc}") from exc


def engine_from(settings: Settings):
    from stream_classifier.model.engines import load_engine

    path = model_dir(str(settings.model.dir) if settings.model.dir else None, settings.model.name)
    try:
        return load_engine(
            path, settings.model.variant, settings.model.threads, cache_entries=settings.model.cache_entries
        )
    except FileNotFoundError as exc:
        raise StartupError("model.dir", str(exc)) from exc
