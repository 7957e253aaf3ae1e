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
    cl.add_argument(
        "--labels",
        action="append",
        help=f"a label-set file; repeat it to label with several sets at once (default: {DEFAULT_LABEL_FILE.name})",
    )
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
    from stream_classifier.records import combined_result
    from stream_classifier.startup import StartupError, model_dir

    try:
        label_sets = [load_label_set(path) for path in args.labels or [DEFAULT_LABEL_FILE]]
    except LabelSetError as exc:
        raise StartupError("--labels", str(exc)) from exc
    names = [label_set.name for label_set in label_sets]
    if len(set(names)) < len(names):
        raise StartupError("--labels", f"two files hold label sets of the same name: {names}")
    engine = load_engine(model_dir(args.model, field="--model"), threads=args.threads)
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    for start in range(0, len(texts), args.batch_size):
        chunk = texts[start : start + args.batch_size]
        results = engine.classify_many(chunk, label_sets)
        for i, text in enumerate(chunk):
            labeled = combined_result(names, [result.as_dict(i) for result in results])
            print(json.dumps({"text": text, **labeled}, ensure_ascii=False), flush=True)
    return 0
