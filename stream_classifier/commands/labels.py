"""`stream-classifier labels check`: validate label files (the workbench adds `labels eval`)."""

from __future__ import annotations

import argparse

from stream_classifier.command_tree import CommandTree


def register(tree: CommandTree) -> None:
    tree.group("labels", "label sets")
    tree.add("labels check", "validate label files and print their versions", _arguments)


def _arguments(check: argparse.ArgumentParser) -> None:
    check.add_argument("files", nargs="+")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from stream_classifier.labels import LabelSetError, load_label_set

    status = 0
    for path in args.files:
        try:
            label_set = load_label_set(path)
        except LabelSetError as exc:
            print(f"invalid: {exc}")
            status = 1
            continue
        mode = "multi-label" if label_set.multi_label else "single-label"
        print(f"ok: {path}: {label_set.version}, {len(label_set.labels)} labels, {mode}")
    return status
