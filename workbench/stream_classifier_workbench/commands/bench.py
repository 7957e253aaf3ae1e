"""`stream-classifier bench ...`: each benchmark prints a table and writes JSON (and a plot)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream_classifier.command_tree import CommandTree
from stream_classifier.exit_codes import EXIT_CONFIG


def register(tree: CommandTree) -> None:
    tree.group("bench", "benchmarks: a table, JSON and a plot")
    tree.add("bench engine", "engines vs torch/transformers baselines, each in its own process", _engine_arguments)
    tree.add("bench stream", "sustained throughput and end-to-end latency against a real broker", _stream_arguments)
    tree.add(
        "bench profile",
        "where the INT8 engine's time goes: phases of a batch, onnxruntime operators",
        _profile_arguments,
    )
    tree.add(
        "bench distill",
        "students of one domain's texts: depth x corpus size x training steps against the teacher",
        _distill_arguments,
    )
    tree.add("bench serve", "the HTTP API vs a per-request handler at 1, 8, 64 concurrent clients", _serve_arguments)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _engine_arguments(be: argparse.ArgumentParser) -> None:
    be.add_argument("--out", default="results")
    be.add_argument("--texts", type=int, default=512, help="texts per pass, embedding group")
    be.add_argument("--nli-texts", type=int, default=48, help="texts per pass, NLI group")
    be.add_argument("--batch-size", type=int, default=32)
    be.add_argument("--passes", type=int, default=3)
    be.add_argument(
        "--groups", default="embedding,nli", help="any of embedding, nli, label-sets (1, 3, 10 sets on one stream)"
    )
    be.add_argument(
        "--student",
        help="the student of the embedding group: e5-small-zh-en-L3 (default) or one made by `model distill --name`",
    )
    be.add_argument("--variants", help="comma-separated subset of the embedding group's rows (default: all)")
    be.set_defaults(func=_engine)


def _engine(args: argparse.Namespace) -> int:
    from stream_classifier_workbench.bench.engine import EMBEDDING_VARIANTS, format_table, run_engine_bench

    unknown = set((args.variants or "").split(",")) - set(EMBEDDING_VARIANTS) - {""}
    if unknown:
        known = ", ".join(EMBEDDING_VARIANTS)
        print(f"error: --variants: unknown {', '.join(sorted(unknown))}; choose from {known}", file=sys.stderr)
        return EXIT_CONFIG
    groups = tuple(g for g in args.groups.split(",") if g)
    report = run_engine_bench(
        Path(args.out),
        texts=args.texts,
        nli_texts=args.nli_texts,
        batch_size=args.batch_size,
        passes=args.passes,
        groups=groups,
        progress=_progress,
        student=args.student,
        variants=tuple(v for v in args.variants.split(",") if v) if args.variants else None,
    )
    print(format_table(report))
    print(f"\nwrote {args.out}/bench-engine.json and {args.out}/bench-engine.png")
    return 0


def _stream_arguments(bs: argparse.ArgumentParser) -> None:
    bs.add_argument("--out", default="results")
    bs.add_argument("--messages", type=int, default=20000)
    bs.add_argument("--batch-size", type=int, default=32)
    bs.add_argument("--latency-seconds", type=float, default=30.0, help="duration of each latency run")
    bs.add_argument(
        "--label-sets", default="1,3,10", help="label-set counts whose stream throughput is measured ('' skips it)"
    )
    bs.add_argument("--label-set-messages", type=int, default=3000, help="messages per label-set count")
    bs.set_defaults(func=_stream)


def _stream(args: argparse.Namespace) -> int:
    from stream_classifier_workbench.bench.stream import format_stream_table, run_stream_bench

    report = run_stream_bench(
        Path(args.out),
        messages=args.messages,
        batch_size=args.batch_size,
        latency_seconds=args.latency_seconds,
        label_set_counts=tuple(int(n) for n in args.label_sets.split(",") if n),
        label_set_messages=args.label_set_messages,
        progress=_progress,
    )
    print(format_stream_table(report))
    print(f"\nwrote {args.out}/bench-stream.json and {args.out}/bench-stream.png")
    return 0


def _profile_arguments(bp: argparse.ArgumentParser) -> None:
    bp.add_argument("--out", default="results")
    bp.add_argument("--texts", type=int, default=512)
    bp.add_argument("--batch-size", type=int, default=32)
    bp.add_argument("--model", help="a model name or a built model directory (default: the default model)")
    bp.set_defaults(func=_profile)


def _profile(args: argparse.Namespace) -> int:
    from stream_classifier_workbench.bench.profile import format_profile, run_profile

    report = run_profile(
        Path(args.out), texts=args.texts, batch_size=args.batch_size, model=args.model, progress=_progress
    )
    print(format_profile(report))
    print(f"\nwrote {args.out}/bench-profile.json")
    return 0


def _serve_arguments(bsv: argparse.ArgumentParser) -> None:
    bsv.add_argument("--out", default="results")
    bsv.add_argument("--seconds", type=float, default=20.0, help="duration of each load run")
    bsv.add_argument("--clients", default="1,8,64")
    bsv.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from stream_classifier_workbench.bench.serve import format_serve_table, run_serve_bench

    report = run_serve_bench(
        Path(args.out), seconds=args.seconds, clients=tuple(int(c) for c in args.clients.split(",")), progress=_progress
    )
    print(format_serve_table(report))
    print(f"\nwrote {args.out}/bench-serve.json and {args.out}/bench-serve.png")
    return 0


def _distill_arguments(bd: argparse.ArgumentParser) -> None:
    from stream_classifier_workbench.training.distill import Recipe

    bd.add_argument("--domain", choices=("reviews", "headlines", "english"), default="headlines")
    bd.add_argument("--sizes", default="3000,10000,30000", help="domain texts per corpus, comma-separated")
    bd.add_argument("--layers", default="3,4,6", help="student depths, comma-separated")
    bd.add_argument("--epochs", type=int, default=4)
    bd.add_argument("--measure-epochs", default="1,2,4", help="epochs after which a student is measured")
    bd.add_argument("--out", default="results")
    bd.add_argument("--work", help="work directories (default: the model cache's distill-work)")
    bd.add_argument("--device", default="auto", help="auto (a CUDA GPU when present), cpu or cuda")
    bd.add_argument("--seed", type=int, default=Recipe().seed)
    bd.add_argument(
        "--lr", type=float, default=Recipe().lr, help="peak learning rate (AdamW, linear warm-up and decay)"
    )
    bd.add_argument(
        "--label-weight",
        type=float,
        default=Recipe().label_weight,
        help="weight of the loss on the domain's label sets (model distill --label-weight)",
    )
    bd.add_argument("--sets", help="model quality's sets to score, comma-separated (default: all five)")
    bd.set_defaults(func=_distill)


def _numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _distill(args: argparse.Namespace) -> int:
    from stream_classifier_workbench.bench.distill_sweep import PLOT, REPORT, format_table
    from stream_classifier_workbench.datasets.labeled_sets import LOADERS
    from stream_classifier_workbench.training.distill import (
        LABEL_WEIGHT_RANGE,
        LR_RANGE,
        label_weight_in_range,
        lr_in_range,
    )

    sizes, layers, measured = _numbers(args.sizes), _numbers(args.layers), _numbers(args.measure_epochs)
    unknown_sets = sorted(set((args.sets or "").split(",")) - set(LOADERS) - {""})
    problems = [
        f"--sets: unknown {', '.join(unknown_sets)}; choose from {', '.join(LOADERS)}" if unknown_sets else "",
        "--sizes: at least 1,000 texts each" if any(s < 1000 for s in sizes) else "",
        "--layers: between 1 and 12" if any(k < 1 or k > 12 for k in layers) else "",
        f"--lr: {LR_RANGE}" if not lr_in_range(args.lr) else "",
        f"--label-weight: {LABEL_WEIGHT_RANGE}" if not label_weight_in_range(args.label_weight) else "",
        f"--measure-epochs: between 1 and --epochs ({args.epochs})"
        if any(e < 1 or e > args.epochs for e in measured)
        else "",
    ]
    if any(problems):
        print(f"error: {'; '.join(p for p in problems if p)}", file=sys.stderr)
        return EXIT_CONFIG
    out = Path(args.out)
    try:
        report = _sweep(args, out, sizes, layers, measured)
    except ValueError as exc:  # a --sizes larger than the domain, a JSON of another sweep in --out
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(format_table(report))
    print(f"\nwrote {out / REPORT} and {out / PLOT}")
    return 0


def _sweep(args: argparse.Namespace, out: Path, sizes: list[int], layers: list[int], measured: list[int]) -> dict:
    from stream_classifier.model.manifest import model_cache_root
    from stream_classifier_workbench.bench.distill_sweep import run_distill_sweep

    return run_distill_sweep(
        out,
        Path(args.work) if args.work else model_cache_root() / "distill-work",
        args.domain,
        sizes,
        layers,
        args.epochs,
        measured,
        seed=args.seed,
        lr=args.lr,
        label_weight=args.label_weight,
        device=args.device,
        set_names=[name for name in args.sets.split(",") if name] if args.sets else None,
        progress=_progress,
    )
