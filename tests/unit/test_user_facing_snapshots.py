"""What a user types and what a client calls stay as they were: every command's --help, and the HTTP
API's OpenAPI document, compared with snapshots (tests/snapshots/). A change that is meant must
update the snapshot in the same commit (regenerate with `python tests/unit/test_user_facing_snapshots.py`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"


def every_help() -> str:
    from stream_classifier.cli import build_parser

    out: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        out.append(f"=== {' '.join(path)}\n{parser.format_help()}")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in sorted(action.choices.items()):
                    walk(sub, [*path, name])

    walk(build_parser(), ["stream-classifier"])
    return "\n".join(out)


def openapi() -> str:
    """The document of an app built from the default settings; its endpoints are not called, so the
    context holds only the settings."""
    from stream_classifier.serve.app import create_app
    from stream_classifier.serve.context import ServeContext
    from stream_classifier.settings import ServeSettings

    app = create_app(ServeContext(ServeSettings(), None, None, None, None, None))
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _with_columns(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps help at the terminal's width


def test_every_commands_help_is_unchanged(monkeypatch):
    _with_columns(monkeypatch)
    assert every_help() == (SNAPSHOTS / "help.txt").read_text()


def test_the_openapi_document_is_unchanged():
    assert openapi() == (SNAPSHOTS / "openapi.json").read_text()


if __name__ == "__main__":
    os.environ["COLUMNS"] = "100"
    (SNAPSHOTS / "help.txt").write_text(every_help())
    (SNAPSHOTS / "openapi.json").write_text(openapi())
    print(f"wrote {SNAPSHOTS}/help.txt and openapi.json", file=sys.stderr)
