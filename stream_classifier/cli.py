"""The `stream-classifier` command line: assembles the commands each area registers.

The runtime registers what `run` and `serve` need and the operator's tools; the workbench (model
building, evaluation, benchmarks), when installed, registers through the entry-point group
`stream_classifier.commands`.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from stream_classifier import commands
from stream_classifier.command_tree import CommandTree
from stream_classifier.exit_codes import EXIT_CONFIG
from stream_classifier.model.catalog import INSTALL_WORKBENCH

ORDER = ("model", "classify", "run", "serve", "schemas", "bench", "labels", "dlq")
WORKBENCH_GROUPS = ("model", "bench")
COMMAND_PLUGINS = "stream_classifier.commands"


def command_tree() -> CommandTree:
    tree = CommandTree()
    commands.register(tree)
    for entry in entry_points(group=COMMAND_PLUGINS):
        try:
            register = entry.load()
        except ImportError:
            continue  # the workbench is declared but cannot be imported: its commands are absent
        register(tree)
    return tree


def build_parser(tree: CommandTree | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stream-classifier", description="Zero-shot labeling of a Kafka text stream on INT8 ONNX"
    )
    (tree or command_tree()).build(parser, ORDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    tree = command_tree()
    if argv and argv[0] in WORKBENCH_GROUPS and argv[0] not in tree.top_level(ORDER):
        print(
            f"error: `stream-classifier {argv[0]}` comes with the workbench (stream-classifier-workbench): "
            f"{INSTALL_WORKBENCH}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    args = build_parser(tree).parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
