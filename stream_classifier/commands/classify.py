"""`stream-classifier classify`: label texts given as arguments or stdin lines, JSON lines out."""

from __future__ import annotations

import argparse
import json
import sys

from stream_classifier.command_tree import CommandTree
from stream_classifier.labels import DEFAULT_LABEL_FILE


def register(tree: CommandTree) -> None:
    tree.add("classify", "label texts given as arguments or stdin lines (JSON lines out)", _arguments)


def _arguments(cl: argparse.ArgumentParser) -> None:
    cl.add_argument("--labels", default=str(DEFAULT_LABEL_FILE))
    cl.add_argument("--model", help="a model name or a built model directory (default: the default model)")
    cl.add_argument("--batch-size", type=int, default=32)
    cl.add_argument("--threads", type=int)
    cl.add_argument("text", nargs="*")
    cl.set_defaults(func=classify)


def classify(args: argparse.Namespace) -> int:
    from stream_classifier.startup import exit_on_startup_error

    return exit_on_startup_error(lambda: _classify(args))


def _classify(args: argparse.Namespace) -> int:
    from stream_classifier.labels import LabelSetError, load_label_set
    from stream_classifier.model.engines import load_engine
    from stream_classifier.startup import StartupError, model_dir

    try:
        label_set = load_label_set(args.labels)
    except LabelSetError as exc:
        raise StartupError("--labels", str(exc)) from exc
    engine = load_engine(model_dir(args.model, field="--model"), threads=args.threads)
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    for start in range(0, len(texts), args.batch_size):
        chunk = texts[start : start + args.batch_size]
        result = engine.classify(chunk, label_set)
        for i, text in enumerate(chunk):
            print(json.dumps({"text": text, **result.as_dict(i)}, ensure_ascii=False), flush=True)
    return 0
