"""`stream-classifier schemas`: write the JSON Schemas of the records the stream writes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stream_classifier.command_tree import CommandTree


def register(tree: CommandTree) -> None:
    tree.add("schemas", "write the record JSON Schemas", _arguments)


def _arguments(schemas: argparse.ArgumentParser) -> None:
    schemas.add_argument("--out", default="schemas")
    schemas.set_defaults(func=_write_schemas)


def _write_schemas(args: argparse.Namespace) -> int:
    from stream_classifier.records import json_schemas

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (out / name).write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        print(out / name)
    return 0
