"""`labels simulate-queue`: what an operator's corrections buy, and in which order to ask for them.

A simulated operator answers from gold labels: each answer makes the text one of its gold label's
`examples` (mixed in as the set's `few_shot` says: the engine's leave-one-out centroid mixing, or
its linear head refitted; `model.few_shot`), and the label set is scored again on the set's test
texts. Two orders are compared: the review queue (the candidates the current label set is least
sure of: the smallest margin between its top two probabilities) and random order. Candidates are
the set's design texts (disjoint from its test texts); each seed draws its own candidates. Every
text is embedded once; the rest is the engine's own arithmetic on those vectors, so a row here is
what the engine would label.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stream_classifier.labels import LabelSet
from stream_classifier.model import few_shot
from stream_classifier.model.engines import EmbeddingEngine, LabelMatrix
from stream_classifier.model.vectors import softmax, unit_rows
from stream_classifier_workbench.evaluation.model_eval import macro_f1

CHECKPOINTS = (0, 10, 25, 50, 100)
SEEDS = (1, 2, 3, 4, 5)
CANDIDATES = 600  # design texts a seed draws to ask about
REFERENCE_SHOTS = 16  # today's figure: 16 random examples per label


@dataclass
class SimulationSet:
    name: str
    label_set: LabelSet
    texts: list[str]  # scored after each checkpoint
    gold: list[str]
    candidates: list[str]  # what the operator may be asked about
    candidate_gold: list[str]
    few_shot: str = ""  # how answers are mixed in: centroid or linear ("": as the label set says)

    @property
    def mode(self) -> str:
        return self.few_shot or self.label_set.few_shot


@dataclass
class _Vectors:
    descriptions: np.ndarray  # one vector per label
    phrasings: np.ndarray  # every description, and the label it describes
    phrasing_owners: np.ndarray
    texts: np.ndarray
    candidates: np.ndarray


def _embed(engine: EmbeddingEngine, data: SimulationSet) -> _Vectors:
    phrasings = [(j, d) for j, label in enumerate(data.label_set.labels) for d in label.descriptions]
    embedded = unit_rows(engine.embed([d for _, d in phrasings], engine.model.manifest.label_prefix))
    owners = np.array([j for j, _ in phrasings])
    every = few_shot.description_vectors(embedded, owners, len(data.label_set.labels))
    texts, candidates = unit_rows(engine.embed(data.texts)), unit_rows(engine.embed(data.candidates))
    return _Vectors(every, embedded, owners, texts, candidates)


def _label_matrix(
    vectors: _Vectors, examples: list[int], owners: list[int], mode: str, temperature: float
) -> LabelMatrix:
    """What the engine prepares for the label set with these examples (EmbeddingEngine._encode_labels)."""
    no_bias = np.zeros(len(vectors.descriptions), dtype=np.float32)
    if not examples:
        return LabelMatrix(vectors.descriptions, no_bias)
    chosen = vectors.candidates[np.array(examples)]
    if mode == "linear":
        weights, bias = few_shot.linear_head(
            np.vstack([vectors.phrasings, chosen]),
            np.concatenate([vectors.phrasing_owners, owners]),
            len(no_bias),
        )
        return LabelMatrix(weights * temperature, bias * temperature)
    return LabelMatrix(few_shot.label_vectors(vectors.descriptions, chosen, np.array(owners))[0], no_bias)


def _f1(data: SimulationSet, vectors: _Vectors, labels: LabelMatrix) -> float:
    names = data.label_set.names
    return macro_f1(data.gold, [names[j] for j in labels.scores(vectors.texts).argmax(axis=1)], names)


def _curve(data: SimulationSet, vectors: _Vectors, order: str, seed: int) -> list[float]:
    names = data.label_set.names
    rng = np.random.default_rng(seed)
    pool = [int(i) for i in rng.permutation(len(data.candidates))[:CANDIDATES]]
    examples: list[int] = []
    owners: list[int] = []
    curve = []
    temperature = data.label_set.temperature
    labels = _label_matrix(vectors, [], [], data.mode, temperature)
    for checkpoint in CHECKPOINTS:
        while len(examples) < checkpoint and pool:
            if order == "queue":
                probabilities = softmax(labels.scores(vectors.candidates[pool]) / temperature, axis=1)
                top_two = np.sort(probabilities, axis=1)[:, -2:]
                pick = pool[int(np.argmin(top_two[:, 1] - top_two[:, 0]))]
            else:
                pick = pool[0]
            pool.remove(pick)
            examples.append(pick)
            owners.append(names.index(data.candidate_gold[pick]))  # the operator's answer: the gold label
            labels = _label_matrix(vectors, examples, owners, data.mode, temperature)
        curve.append(_f1(data, vectors, labels))
    return curve


def _reference(data: SimulationSet, vectors: _Vectors, seed: int) -> float:
    """16 random examples per label, the figure `model quality` reports."""
    names = data.label_set.names
    rng = np.random.default_rng(seed)
    examples, owners = [], []
    for j, name in enumerate(names):
        mine = [i for i, g in enumerate(data.candidate_gold) if g == name]
        for i in rng.permutation(len(mine))[:REFERENCE_SHOTS]:
            examples.append(mine[int(i)])
            owners.append(j)
    return _f1(data, vectors, _label_matrix(vectors, examples, owners, data.mode, data.label_set.temperature))


def simulate(
    engine: EmbeddingEngine,
    sets: list[SimulationSet],
    seeds: tuple[int, ...] = SEEDS,
    progress: Callable[[str], None] = lambda message: None,
    few_shot_mode: str = "",
) -> dict:
    """`few_shot_mode` (centroid or linear) overrides every set's own."""
    started = time.perf_counter()
    rows = []
    for data in sets:
        data = replace(data, few_shot=few_shot_mode or data.few_shot)
        progress(f"{data.name}: embedding {len(data.texts)} test texts and {len(data.candidates)} candidates")
        vectors = _embed(engine, data)
        curves = {
            order: np.array([_curve(data, vectors, order, seed) for seed in seeds]) for order in ("queue", "random")
        }
        reference = [_reference(data, vectors, seed) for seed in seeds]
        reference_examples = sum(min(REFERENCE_SHOTS, data.candidate_gold.count(n)) for n in data.label_set.names)
        rows.append(
            {
                "set": data.name,
                "few_shot": data.mode,
                "labels": len(data.label_set.names),
                "test_texts": len(data.texts),
                "candidates": len(data.candidates),
                "queue": curves["queue"].mean(axis=0).tolist(),
                "random": curves["random"].mean(axis=0).tolist(),
                "queue_std": curves["queue"].std(axis=0).tolist(),
                "random_std": curves["random"].std(axis=0).tolist(),
                "reference_16_per_label": float(np.mean(reference)),
                "reference_examples": reference_examples,
            }
        )
    return {
        "checkpoints": list(CHECKPOINTS),
        "seeds": list(seeds),
        "model_id": engine.model_id,
        "seconds": time.perf_counter() - started,
        "sets": rows,
    }


def format_table(report: dict) -> str:
    head = " | ".join(f"{n} corrections" for n in report["checkpoints"])
    lines = [
        f"macro-F1 on each set's test texts, mean of {len(report['seeds'])} seeds, model {report['model_id']}",
        "",
        f"| set | order | {head} |",
        "|---|---|" + "---|" * len(report["checkpoints"]),
    ]
    for row in report["sets"]:
        for order in ("queue", "random"):
            cells = " | ".join(f"{v:.3f}" for v in row[order])
            lines.append(f"| {row['set']} ({row['few_shot']}) | {order} | {cells} |")
        lines.append(
            f"| {row['set']} ({row['few_shot']}) | 16 random examples per label ({row['reference_examples']}) | "
            f"{row['reference_16_per_label']:.3f} |" + " |" * (len(report["checkpoints"]) - 1)
        )
    return "\n".join(lines)


def write(report: dict, out: Path) -> tuple[Path, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    json_path, plot_path = out / "review-queue.json", out / "review-queue.png"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    figure, axes = plt.subplots(1, len(report["sets"]), figsize=(4.5 * len(report["sets"]), 3.6), squeeze=False)
    for axis, row in zip(axes[0], report["sets"]):
        for order, style in (("queue", "-o"), ("random", "--s")):
            axis.errorbar(
                report["checkpoints"], row[order], yerr=row[f"{order}_std"], fmt=style, label=order, capsize=3
            )
        axis.axhline(
            row["reference_16_per_label"],
            color="grey",
            linestyle=":",
            label=f"16 random per label ({row['reference_examples']})",
        )
        axis.set_title(f"{row['set']} (few_shot: {row['few_shot']})")
        axis.set_xlabel("corrections")
        axis.set_ylabel("macro-F1 (test texts)")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(plot_path, dpi=110)
    return json_path, plot_path


def default_sets() -> list[SimulationSet]:
    """The two shipped label sets on their own data (design texts are the candidates, test texts are
    scored) and THUCNews headlines (its example pool and its evaluation sample)."""
    from stream_classifier.labels import DEFAULT_LABEL_FILE, load_label_set
    from stream_classifier_workbench.datasets.labeled_sets import thucnews_headlines
    from stream_classifier_workbench.datasets.opinion_sets import opinion_rows, sentiment_rows

    sets = []
    for name, rows_of, file in (
        ("opinion-zh", opinion_rows, "opinion_zh.yaml"),
        ("sentiment", sentiment_rows, "sentiment.yaml"),
    ):
        design, test = rows_of("design"), rows_of("test")
        sets.append(
            SimulationSet(
                name,
                load_label_set(DEFAULT_LABEL_FILE.with_name(file)),
                [r.text for r in test],
                [r.label for r in test],
                [r.text for r in design],
                [r.label for r in design],
            )
        )
    news = thucnews_headlines()
    pool = [(text, label) for label, texts in news.examples.items() for text in texts]
    sets.append(
        SimulationSet(news.name, news.label_set, news.texts, news.gold, [t for t, _ in pool], [g for _, g in pool])
    )
    return sets
