"""`stream-classifier run`: the stream processor."""

from __future__ import annotations

import argparse

from stream_classifier.command_tree import CommandTree


def register(tree: CommandTree) -> None:
    tree.add("run", "consume, label, produce: the stream processor", _arguments)


def _arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--config", help="settings YAML (SC_* environment variables override it)")
    run.set_defaults(func=lambda args: _run(args.config))


def _run(config: str | None) -> int:
    from stream_classifier.stream.runner import run

    return run(config)
