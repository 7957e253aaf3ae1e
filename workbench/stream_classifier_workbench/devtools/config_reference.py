"""The configuration reference, docs/configuration.md, generated from the settings models:

    python -m stream_classifier_workbench.devtools.config_reference > docs/configuration.md

Every setting's key, environment variable, type, default and description come from
stream_classifier/settings.py (each field's `description`); a test checks the committed file is
what this renders. Imports only stream_classifier.settings and the standard library, so that it
can be loaded by path without the workbench being installed.
"""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import PurePath

from stream_classifier import settings as settings_module

GENERATE_COMMAND = "python -m stream_classifier_workbench.devtools.config_reference > docs/configuration.md"
ENV_PREFIX = "SC_"
ENV_DELIMITER = "__"
SECRET_MASK = "**********"

_SCALAR_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_BOUNDS = (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and hasattr(annotation, "model_fields")


def leaves(model: type | None = None, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """(key path, FieldInfo) of every setting that is not itself a section, in model order."""
    model = model or settings_module.Settings
    found = []
    for name, field in model.model_fields.items():
        if _is_model(field.annotation):
            found += leaves(field.annotation, prefix + (name,))
        else:
            found.append((prefix + (name,), field))
    return found


def sections(model: type | None = None, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], type, object]]:
    """(key path, model, FieldInfo) of every section (a field that is a settings model), depth first."""
    model = model or settings_module.Settings
    found = []
    for name, field in model.model_fields.items():
        if _is_model(field.annotation):
            found.append((prefix + (name,), field.annotation, field))
            found += sections(field.annotation, prefix + (name,))
    return found


def env_var(path: tuple[str, ...]) -> str:
    return ENV_PREFIX + ENV_DELIMITER.join(path).upper()


def type_name(annotation: object) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{value}`" for value in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(arg) for arg in args)
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}"
    if origin is list:
        return f"list of {type_name(args[0])}"
    if annotation is settings_module.SecretStr:
        return "secret string"
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return "path"
    if annotation in _SCALAR_NAMES:
        return _SCALAR_NAMES[annotation]
    return getattr(annotation, "__name__", str(annotation))


def constraints(field) -> list[str]:
    found = []
    for item in field.metadata:
        for attr, sign in _BOUNDS:
            bound = getattr(item, attr, None)
            if bound is not None:
                found.append(f"{sign} {bound}")
    return found


def _plain(value: object) -> object:
    """The default as YAML would hold it; a secret shows as pydantic shows it, never its value."""
    if isinstance(value, settings_module.SecretStr):
        return SECRET_MASK
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def default_text(field) -> str:
    if field.is_required():
        return "(required)"
    value = _plain(field.get_default(call_default_factory=True))
    if isinstance(value, str) and value:
        return f"`{value}`"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _escape(text: str) -> str:
    """Markdown for a table cell: code spans kept, emphasis and HTML characters escaped outside them."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        part = parts[i].replace("\\", "\\\\").replace("*", "\\*").replace("<", "&lt;")
        # `_` emphasises only where it does not sit inside a word
        parts[i] = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", part)
    return "`".join(parts).replace("|", "\\|").replace("\n", " ")


def _anchor(heading: str) -> str:
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(model: type, prefix: tuple[str, ...]) -> list[str]:
    lines = [_row(["YAML key", "Environment variable", "Type", "Default", "Description"]), _row(["---"] * 5)]
    for name, field in model.model_fields.items():
        if _is_model(field.annotation):
            continue  # a section of its own
        path = prefix + (name,)
        kind = ", ".join([type_name(field.annotation), *constraints(field)])
        lines.append(
            _row(
                [
                    f"`{'.'.join(path)}`",
                    f"`{env_var(path)}`",
                    _escape(kind),
                    _escape(default_text(field)),
                    _escape(field.description or ""),
                ]
            )
        )
    return lines


HEADER = f"""\
<!-- Generated from the settings models (stream_classifier/settings.py); do not edit by hand.
     Regenerate with: {GENERATE_COMMAND} -->

# Configuration reference

Generated from the settings models in `stream_classifier/settings.py` by

    {GENERATE_COMMAND}

A test fails when this file and the models disagree; change a setting's `description` in the model,
then run the command above.

## Where settings come from

Each setting is read from three places; a later one wins over an earlier one:

1. the **default** given in the tables below;
2. the **YAML file** given with `--config FILE` (`stream-classifier run`, `serve` and the `dlq`
   commands), nested as the dotted YAML keys below say: `batch.max_size` is `max_size` under `batch:`;
3. **`SC_*` environment variables**, which apply with or without a file: `SC_` then the key's parts
   joined by `__`, in capitals, e.g. `SC_KAFKA__BOOTSTRAP_SERVERS=broker:9092`,
   `SC_SERVE__LIVE__ENABLED=false`.

A variable overrides only the setting it names; the file's other settings still apply. A list or
mapping setting takes a JSON value in the environment (`SC_SERVE__LABEL_FILES='["a.yaml"]'`); a mapping
given there is merged key by key into the file's mapping, a list replaces the file's list.
`stream-classifier serve --port` is merged into the file's settings, so `SC_SERVE__PORT`, if set,
wins over it. No `.env` file is read.

Settings are validated at start-up: an unknown key, a value of the wrong type or out of range stops
the process with an error that names the setting. Secrets (`kafka.sasl_password`, `serve.token`,
`kafka.properties` values whose key looks secret) are kept as secret strings and never logged; give
them by environment. `configs/default.yaml` is a working file with the defaults.
"""


def render() -> str:
    """The whole reference as Markdown."""
    all_sections = sections()
    lines = [HEADER.rstrip("\n"), "", "## Sections", ""]
    for path, _model, field in all_sections:
        key = ".".join(path)
        lines.append(f"{'  ' * (len(path) - 1)}- [`{key}`](#{_anchor(key)}): {_escape(field.description or '')}")
    top_leaves = [path for path, _ in leaves() if len(path) == 1]
    if top_leaves:
        lines += ["", "## Top-level settings", "", *_table(settings_module.Settings, ())]
    for path, model, field in all_sections:
        key = ".".join(path)
        lines += ["", f"## `{key}`", ""]
        if field.description:
            lines += [_escape(field.description), ""]
        doc = model.__dict__.get("__doc__")
        if doc:
            lines += [_escape(" ".join(doc.split())), ""]
        if any(not _is_model(f.annotation) for f in model.model_fields.values()):
            lines += _table(model, path)
        else:
            lines.append("Only sections, below.")
    return "\n".join(lines) + "\n"


def main() -> None:
    print(render(), end="")


if __name__ == "__main__":
    main()
