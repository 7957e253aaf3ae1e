"""The runtime's commands: what `run` and `serve` need, and the tools an operator uses beside them."""

from __future__ import annotations

from stream_classifier.command_tree import CommandTree
from stream_classifier.commands import classify, labels, run, schemas, serve
from stream_classifier.dlq import commands as dlq


def register(tree: CommandTree) -> None:
    for area in (classify, run, serve, schemas, labels, dlq):
        area.register(tree)
