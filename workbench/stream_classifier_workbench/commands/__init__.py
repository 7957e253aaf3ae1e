"""The workbench's commands (entry point `stream_classifier.commands`): model building, training and
evaluation, benchmarks, label-set evaluation."""

from __future__ import annotations

from stream_classifier.command_tree import CommandTree
from stream_classifier_workbench.commands import bench, labels, model


def register(tree: CommandTree) -> None:
    for area in (model, bench, labels):
        area.register(tree)
