"""`bench distill`: what makes a student distilled on one domain's texts good — depth, corpus size,
training steps — measured against the teacher's INT8 engine in the same run.

For each corpus size N the corpus is what `model distill --texts` makes of the domain's first N
texts (`domain_texts`: evaluation texts dropped, seeded shuffle): those, half as many general texts,
and the domain's label sets. For each depth a student is trained for `epochs` epochs and measured at
the end of each epoch in `measure_epochs` (one run: the learning rate of an earlier point is not yet
annealed). Each point is built into the INT8 engine `run` serves and scored as `model quality`'s
shipped zero-shot row ("descriptions") on its five sets; speed is texts/s on `bench engine`'s reviews,
each depth against the teacher in this process once training is over. Points already in the JSON are not measured again.
Training uses the GPU when there is one; the teacher and the students are scored on the CPU engine.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from stream_classifier_workbench.datasets.domain_texts import DOMAINS, domain_texts

REPORT = "bench-distill.json"
PLOT = "bench-distill.png"
TEACHER = "multilingual-e5-small-zh-en"
BAR_POINTS = 0.015  # the bar: within 1.5 points of the teacher
SPEED_TEXTS = 512
LR_BEFORE_THE_OPTION = 2e-4  # a report written before --lr existed ran at this rate


def _one_pass(engine, texts: list[str], batch: int = 32) -> float:
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        engine.embed(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - started)


def _speeds(engines: dict[str, object], texts: list[str], rounds: int = 3) -> dict[str, float]:
    """Texts/s of each engine, median of rounds that take turns (so drift in the machine's speed
    falls on every engine alike), after one warm-up pass each."""
    for engine in engines.values():
        _one_pass(engine, texts[:64])
    rates: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, engine in engines.items():
            rates[name].append(_one_pass(engine, texts))
    return {name: statistics.median(values) for name, values in rates.items()}


def _measure_speed(report: dict, work_root: Path, domain: str, layers: list[int], progress) -> None:
    """Once every point is trained: the teacher and one student of each depth, built from the largest
    corpus's last trained weights (speed depends on the depth only), in this process with no training
    running."""
    from stream_classifier.model.engines import load_engine
    from stream_classifier.startup import model_dir
    from stream_classifier_workbench.bench.engine import bench_texts
    from stream_classifier_workbench.building.build import build_student
    from stream_classifier_workbench.training import distill

    missing = [k for k in layers if str(k) not in report["speed"].get("texts_per_s", {})]
    seed = report["settings"]["seed"]
    if not missing:
        return
    engines = {"teacher": load_engine(model_dir(TEACHER, field="--teacher"), cache_entries=0)}
    folders = []
    for k in missing:
        trained = sorted(
            work_root.glob(f"sweep-{domain}-seed{seed}-*/trained-L{k}.npz"),
            key=lambda p: int(p.parent.name.split("-")[-1]),
        )
        work = distill.Work(trained[-1].parent)
        name = f"sweep-{domain}-speed-l{k}"
        weights, built = work.root / "weights" / name, work.root / "built" / name
        distill.package(work, k, weights, name)
        build_student(name, built, force=True, quiet=True, weights_dir=weights)
        engines[str(k)] = load_engine(built, cache_entries=0)
        folders += [weights, built]
    progress(f"speed: the teacher and {len(missing)} students, {SPEED_TEXTS} texts, batches of 32, 3 rounds")
    rates = _speeds(engines, bench_texts(SPEED_TEXTS))
    report["speed"] = {
        "texts": SPEED_TEXTS,
        "batch": 32,
        "texts_per_s": {**report["speed"].get("texts_per_s", {}), **rates},
    }
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _scores(engine, sets) -> dict[str, float]:
    from stream_classifier_workbench.evaluation.label_quality import descriptions_f1

    return {data.name: descriptions_f1(engine, data) for data in sets}


def _usable_texts(domain: str) -> list[str]:
    from stream_classifier_workbench.training.operator_texts import supported

    return [t for t in domain_texts(domain) if supported(t)]


def _check_sizes(domain: str, sizes: list[int]) -> None:
    available = len(_usable_texts(domain))
    for size in sizes:
        if size > available:
            raise ValueError(f"--sizes: {size} is more than the {available} texts of the {domain} domain")


def _corpus(domain: str, size: int, seed: int):
    from stream_classifier_workbench.training.corpus import stream_corpus
    from stream_classifier_workbench.training.distill import Recipe
    from stream_classifier_workbench.training.operator_texts import OperatorTexts

    texts = _usable_texts(domain)
    own = OperatorTexts(texts[:size], f"domain {domain}, first {size}: {DOMAINS[domain].source}", size, {})
    return stream_corpus(own, list(DOMAINS[domain].label_files), seed, 0.5, Recipe().lexicon_words)


def _load(out: Path) -> dict:
    path = out / REPORT
    return json.loads(path.read_text()) if path.exists() else {}


def _save(report: dict, out: Path) -> None:
    (out / REPORT).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def run_distill_sweep(
    out: Path,
    work_root: Path,
    domain: str,
    sizes: list[int],
    layers: list[int],
    epochs: int,
    measure_epochs: list[int],
    seed: int = 13,
    lr: float | None = None,
    label_weight: float = 0.0,
    device: str = "auto",
    set_names: list[str] | None = None,
    progress=lambda m: None,
) -> dict:
    from stream_classifier.model.engines import load_engine
    from stream_classifier.startup import model_dir
    from stream_classifier_workbench.building.build import build_student
    from stream_classifier_workbench.datasets.labeled_sets import load_all
    from stream_classifier_workbench.training import distill

    lr = distill.Recipe().lr if lr is None else lr
    out.mkdir(parents=True, exist_ok=True)
    report = _load(out)
    sets = load_all(set_names)
    settings = {"domain": domain, "epochs": epochs, "seed": seed, "lr": lr, "sets": [data.name for data in sets]}
    if label_weight:
        settings["label_weight"] = label_weight
    if {"lr": LR_BEFORE_THE_OPTION, **report.get("settings", settings)} != settings:
        raise ValueError(f"{out / REPORT} holds a sweep with other settings ({report['settings']}): use another --out")
    report["settings"] = settings
    report.setdefault("points", [])
    report.setdefault("speed", {})
    in_domain = [name for name in DOMAINS[domain].quality_sets if name in settings["sets"]]
    if not in_domain:
        raise ValueError(f"--sets: none of the {domain} domain's sets ({', '.join(DOMAINS[domain].quality_sets)})")

    _check_sizes(domain, sizes)  # before the minutes of scoring the teacher
    if "teacher" not in report:
        progress(f"teacher {TEACHER}: scoring {len(sets)} sets")
        teacher = load_engine(model_dir(TEACHER, field="--teacher"), cache_entries=0)
        report["teacher"] = {"scores": _scores(teacher, sets)}
        report["in_domain_sets"] = in_domain
        _save(report, out)
        del teacher

    done = {(p["texts"], p["layers"], p["epochs"]) for p in report["points"]}
    for size in sizes:
        work = distill.Work(work_root / f"sweep-{domain}-seed{seed}-{size}")
        recipe = distill.Recipe(seed=seed, epochs=epochs, lr=lr, label_weight=label_weight)
        if all((size, k, e) in done for k in layers for e in measure_epochs):
            continue
        started = time.perf_counter()
        corpus = None if work.texts.exists() else _corpus(domain, size, seed)
        texts_in_corpus = len(corpus.texts) if corpus else len(json.loads(work.texts.read_text())["texts"])
        recipe = replace(recipe, held_out=min(recipe.held_out, texts_in_corpus // 20))
        distill.prepare(work, recipe, corpus)
        distill.targets(work, recipe, device)
        report.setdefault("corpora", {}).setdefault(
            str(size), {"texts": texts_in_corpus, "prepare_and_targets_seconds": round(time.perf_counter() - started)}
        )
        per_epoch = distill.Batches.per_epoch(texts_in_corpus - recipe.held_out, recipe.batch)
        for k in layers:
            for epoch in sorted(measure_epochs):
                if (size, k, epoch) in done:
                    continue
                step = epoch * per_epoch
                if epoch < epochs:
                    distill.train(work, k, recipe, device, stop_at=step)
                    distill.export_checkpoint(work, k)
                else:
                    distill.train(work, k, recipe, device)
                name = f"sweep-{domain}-{size}-l{k}-e{epoch}"
                weights, built = work.root / "weights" / name, work.root / "built" / name
                distill.package(work, k, weights, name)
                build_student(name, built, force=True, quiet=True, weights_dir=weights)
                engine = load_engine(built, cache_entries=0)
                progress(f"{name}: scoring {len(sets)} sets")
                trained = json.loads((work.root / f"trained-L{k}.json").read_text())
                point = {
                    "texts": size,
                    "corpus_texts": texts_in_corpus,
                    "layers": k,
                    "epochs": epoch,
                    "steps": step,
                    "train_seconds": trained["seconds"],
                    "scores": _scores(engine, sets),
                }
                del engine
                shutil.rmtree(built, ignore_errors=True)
                shutil.rmtree(weights, ignore_errors=True)
                report["points"].append(point)
                _save(report, out)
                progress(format_point(report, point))
    _measure_speed(report, work_root, domain, sorted({p["layers"] for p in report["points"]}), progress)
    _save(report, out)
    _plot(report, out / PLOT)
    return report


def _mean(scores: dict[str, float], names: list[str]) -> float:
    return float(np.mean([scores[n] for n in names])) if names else float("nan")


def format_point(report: dict, point: dict) -> str:
    teacher = report["teacher"]["scores"]
    own = _mean(point["scores"], report["in_domain_sets"])
    return (
        f"{point['texts']} texts, {point['layers']} layers, epoch {point['epochs']} ({point['steps']} steps): "
        f"in domain {own:.3f} ({100 * (own - _mean(teacher, report['in_domain_sets'])):+.1f})"
    )


def format_table(report: dict) -> str:
    teacher = report["teacher"]["scores"]
    in_domain = report["in_domain_sets"]
    others = [n for n in teacher if n not in in_domain]
    base = _mean(teacher, in_domain)
    lines = [
        f"domain {report['settings']['domain']}: macro-F1 in domain ({', '.join(in_domain)}) and on the other "
        f"sets ({', '.join(others)}), shipped zero-shot row, INT8; speed over the teacher's INT8 in this run",
        "",
        "| texts | corpus | layers | epochs | steps | in domain | vs teacher | other sets | train s | × teacher |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| teacher | | 12 | | | {base:.3f} | | {_mean(teacher, others):.3f} | | 1.00 |",
    ]
    rates = report["speed"]["texts_per_s"]
    for p in sorted(report["points"], key=lambda p: (p["texts"], p["layers"], p["epochs"])):
        own = _mean(p["scores"], in_domain)
        ratio = rates[str(p["layers"])] / rates["teacher"]
        lines.append(
            f"| {p['texts']:,} | {p['corpus_texts']:,} | {p['layers']} | {p['epochs']} | {p['steps']} | {own:.3f} | "
            f"{100 * (own - base):+.1f} | {_mean(p['scores'], others):.3f} | {p['train_seconds']:.0f} | "
            f"{ratio:.2f} |"
        )
    return "\n".join(lines)


COLORS = {3: "#3b7dd8", 4: "#e0a040", 6: "#4caf50"}


def _draw_against_steps(ax, points: list[dict], in_domain: list[str]) -> None:
    sizes = sorted({p["texts"] for p in points})
    styles = ["-", "--", ":", "-."]
    for k in sorted({p["layers"] for p in points}):
        for i, size in enumerate(sizes):
            run = sorted((p for p in points if p["layers"] == k and p["texts"] == size), key=lambda p: p["steps"])
            if run:
                ax.plot(
                    [p["steps"] for p in run],
                    [_mean(p["scores"], in_domain) for p in run],
                    styles[i % len(styles)],
                    marker="o",
                    color=COLORS.get(k),
                    label=f"{k} layers, {size:,} texts",
                )
    ax.set_xlabel("training steps (batches of 128)")


def _draw_against_size(ax, points: list[dict], in_domain: list[str]) -> None:
    for k in sorted({p["layers"] for p in points}):
        last = {}
        for p in points:
            if p["layers"] == k and p["epochs"] >= last.get(p["texts"], {}).get("epochs", -1):
                last[p["texts"]] = p
        xs = sorted(last)
        ax.plot(
            xs, [_mean(last[x]["scores"], in_domain) for x in xs], marker="o", color=COLORS.get(k), label=f"{k} layers"
        )
    ax.set_xlabel("domain texts in the corpus (last epoch)")
    ax.set_xscale("log")


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    in_domain = report["in_domain_sets"]
    base = _mean(report["teacher"]["scores"], in_domain)
    points = report["points"]
    panels = [_draw_against_steps]
    if len({p["texts"] for p in points}) > 1:  # with one corpus size there is nothing to draw against size
        panels.append(_draw_against_size)
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for draw, ax in zip(panels, axes[0], strict=True):
        draw(ax, points, in_domain)
        ax.axhline(base, color="#999999", label="teacher INT8")
        ax.axhline(base - BAR_POINTS, color="#999999", linestyle="--", label="teacher − 1.5 points")
        ax.set_ylabel(f"macro-F1 in domain ({report['settings']['domain']})")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
