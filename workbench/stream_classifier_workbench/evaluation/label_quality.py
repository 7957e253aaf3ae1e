"""`model quality`: each scoring lever measured alone and together on every labeled set.

Every text, description, example and background sentence is embedded once by the engine; the
levers are then compared on those vectors with the functions the engine itself uses, so a row
here is what the engine would label. Few-shot rows average 5 seeded draws of examples from each
set's example pool (disjoint from its evaluation texts).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from stream_classifier.labels import DEFAULT_TEMPERATURE, LabelSet
from stream_classifier.model import few_shot
from stream_classifier.model.engines import EmbeddingEngine, abstentions
from stream_classifier.model.vectors import softmax, unit_rows
from stream_classifier_workbench.datasets.background import background_texts
from stream_classifier_workbench.datasets.labeled_sets import LabeledSet
from stream_classifier_workbench.evaluation.label_metrics import expected_calibration_error, nll
from stream_classifier_workbench.evaluation.model_eval import macro_f1

TODAY_TEMPERATURE = 0.02
SHOTS = (4, 16)
DRAWS = 5
ZERO_SHOT_ROWS = {
    "before": "first description only (the engine before these levers)",
    "centring": "first description, text and label vectors centred on the background mean",
    "descriptions": "every description, their unit vectors averaged (shipped)",
    "descriptions+centring": "every description, and centring",
}


def _embedded(engine: EmbeddingEngine, data: LabeledSet) -> dict:
    label_prefix = engine.model.manifest.label_prefix
    labels = data.label_set.labels
    return {
        "texts": unit_rows(engine.embed(data.texts)),
        "descriptions": [unit_rows(engine.embed(label.descriptions, label_prefix)) for label in labels],
        "pool": {name: unit_rows(engine.embed(data.examples[name])) for name in data.label_set.names},
    }


def _predict(scores: np.ndarray, names: list[str]) -> list[str]:
    return [names[j] for j in scores.argmax(axis=1)]


def _f1(data: LabeledSet, scores: np.ndarray) -> float:
    return macro_f1(data.gold, _predict(scores, data.label_set.names), data.label_set.names)


def _zero_shot(vectors: dict, background_mean: np.ndarray) -> dict[str, np.ndarray]:
    first = unit_rows(np.stack([d[0] for d in vectors["descriptions"]]))
    every = unit_rows(np.stack([d.mean(axis=0) for d in vectors["descriptions"]]))
    texts = vectors["texts"]

    def centred(rows: np.ndarray) -> np.ndarray:
        return unit_rows(rows - background_mean)

    return {
        "before": texts @ first.T,
        "centring": centred(texts) @ centred(first).T,
        "descriptions": texts @ every.T,
        "descriptions+centring": centred(texts) @ centred(every).T,
    }


def descriptions_f1(engine: EmbeddingEngine, data: LabeledSet) -> float:
    """The shipped zero-shot row ("descriptions") alone, without embedding what the other rows need."""
    label_prefix = engine.model.manifest.label_prefix
    texts = unit_rows(engine.embed(data.texts))
    labels = data.label_set.labels
    described = [engine.embed(label.descriptions, label_prefix) for label in labels]
    owners = np.repeat(np.arange(len(labels)), [len(d) for d in described])
    return _f1(data, texts @ few_shot.description_vectors(np.concatenate(described), owners, len(labels)).T)


def _few_shot(vectors: dict, names: list[str], shots: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    chosen = [vectors["pool"][n][rng.permutation(len(vectors["pool"][n]))[:shots]] for n in names]
    examples = np.concatenate(chosen)
    owners = np.repeat(np.arange(len(names)), [len(c) for c in chosen])
    first = unit_rows(np.stack([d[0] for d in vectors["descriptions"]]))
    every = unit_rows(np.stack([d.mean(axis=0) for d in vectors["descriptions"]]))
    prototypes = unit_rows(np.stack([examples[owners == j].mean(axis=0) for j in range(len(names))]))
    shipped, _ = few_shot.label_vectors(every, examples, owners)
    texts = vectors["texts"]
    return {
        "before": texts @ unit_rows(first + prototypes).T,  # description + centroid, equal weight
        "fixed weight 1": texts @ unit_rows(every + prototypes).T,
        "leave-one-out weight": texts @ shipped.T,
    }


def _supervised_ceiling(data: LabeledSet, texts: np.ndarray, steps: int = 3000) -> float:
    """What a linear classifier on these frozen embeddings reaches when trained on half of the
    evaluation texts (softmax regression, full-batch gradient descent), scored on the other half:
    no way of using a few examples can beat it by much."""
    names = data.label_set.names
    gold = np.array([names.index(g) for g in data.gold])
    half = len(texts) // 2
    weights, bias = np.zeros((len(names), texts.shape[1])), np.zeros(len(names))
    targets = np.eye(len(names))[gold[:half]]
    for _ in range(steps):
        error = softmax(texts[:half] @ weights.T + bias, axis=1) - targets
        weights -= 2.0 * error.T @ texts[:half] / half
        bias -= 2.0 * error.mean(axis=0)
    predicted = [names[j] for j in (texts[half:] @ weights.T + bias).argmax(axis=1)]
    return macro_f1([data.gold[i] for i in range(half, len(texts))], predicted, names)


def _calibration(data: LabeledSet, cosines: np.ndarray, temperature: float) -> dict:
    gold = np.array([data.label_set.names.index(g) for g in data.gold])
    return {
        "log_loss": nll(cosines, gold, temperature),
        "ece": expected_calibration_error(softmax(cosines / temperature, axis=1), gold),
    }


def _abstain_sweep(data: LabeledSet, vectors: dict, left_out: list[str]) -> list[dict]:
    """Labels removed from the set: their texts should get the fallback, the rest keep their label."""
    names = data.label_set.names
    kept = [j for j, n in enumerate(names) if n not in left_out]
    every = unit_rows(np.stack([vectors["descriptions"][j].mean(axis=0) for j in kept]))
    probabilities = softmax(vectors["texts"] @ every.T / DEFAULT_TEMPERATURE, axis=1)
    outside = np.array([g in left_out for g in data.gold])
    rows = []
    for margin in (0.0, 0.1, 0.2, 0.3, 0.4):
        rule = {"min_margin": margin} if margin else None
        label_set = LabelSet(name="sweep", labels=[data.label_set.labels[j] for j in kept], abstain=rule)
        weak = abstentions(probabilities, label_set)
        predicted = np.array([names[kept[j]] for j in probabilities.argmax(axis=1)])
        inside_right = (
            float(np.mean((predicted == np.array(data.gold))[~outside & ~weak])) if np.any(~outside & ~weak) else 0.0
        )
        rows.append(
            {
                "min_margin": margin,
                "abstained_outside": float(weak[outside].mean()),
                "abstained_inside": float(weak[~outside].mean()),
                "accuracy_of_kept_inside": inside_right,
            }
        )
    return rows


def measure(engine: EmbeddingEngine, sets: list[LabeledSet], progress=lambda m: None) -> dict:
    progress(f"embedding the background sample ({len(background_texts())} texts)")
    background_mean = unit_rows(engine.embed(background_texts())).mean(axis=0)
    report: dict = {"model_id": engine.model_id, "sets": []}
    for data in sets:
        started = time.perf_counter()
        progress(f"{data.name}: embedding {len(data.texts)} texts, descriptions and example pools")
        vectors = _embedded(engine, data)
        names = data.label_set.names
        zero = _zero_shot(vectors, background_mean)
        entry = {
            "name": data.name,
            "language": data.language,
            "what": data.what,
            "source": data.source,
            "held_out": data.held_out,
            "texts": len(data.texts),
            "zero_shot": {row: _f1(data, scores) for row, scores in zero.items()},
            "few_shot": {},
            "calibration": {},
        }
        for shots in SHOTS:
            draws = [_few_shot(vectors, names, shots, seed) for seed in range(DRAWS)]
            entry["few_shot"][str(shots)] = {
                row: float(np.mean([_f1(data, d[row]) for d in draws])) for row in draws[0]
            }
        entry["supervised_ceiling"] = _supervised_ceiling(data, vectors["texts"])
        for temperature in (TODAY_TEMPERATURE, DEFAULT_TEMPERATURE):
            entry["calibration"][str(temperature)] = _calibration(data, zero["descriptions"], temperature)
        if data.name == "thucnews-headlines":
            entry["abstain"] = {
                "left_out": ["game", "realty"],
                "sweep": _abstain_sweep(data, vectors, ["game", "realty"]),
            }
        engine_scores = engine.classify(data.texts, data.label_set).scores
        entry["engine_agrees_with_rows"] = float(np.mean(engine_scores.argmax(1) == zero["descriptions"].argmax(1)))
        entry["seconds"] = time.perf_counter() - started
        report["sets"].append(entry)
    tuning = [s for s in report["sets"] if not s["held_out"]]
    report["tuning_mean"] = {row: float(np.mean([s["zero_shot"][row] for s in tuning])) for row in ZERO_SHOT_ROWS}
    return report


def format_report(report: dict) -> str:
    rows = list(ZERO_SHOT_ROWS)
    lines = [
        f"macro-F1, zero-shot, model {report['model_id']} (held-out set last, never tuned on)",
        f"{'set':26} " + " ".join(f"{r:>22}" for r in rows),
    ]
    for s in report["sets"]:
        tag = " (held out)" if s["held_out"] else ""
        lines.append(f"{s['name'] + tag:26} " + " ".join(f"{s['zero_shot'][r]:22.4f}" for r in rows))
    lines.append(f"{'mean of tuning sets':26} " + " ".join(f"{report['tuning_mean'][r]:22.4f}" for r in rows))
    lines.append("")
    lines.append(
        "macro-F1 with examples per label (mean of 5 draws); zero-shot = 'descriptions'; ceiling ="
        " a linear classifier trained on half of the evaluation texts"
    )
    few_rows = list(report["sets"][0]["few_shot"][str(SHOTS[0])])
    lines.append(f"{'set':26} {'shots':>5} " + " ".join(f"{r:>22}" for r in ["zero-shot", *few_rows, "ceiling"]))
    for s in report["sets"]:
        for shots, row in s["few_shot"].items():
            lines.append(
                f"{s['name']:26} {shots:>5} {s['zero_shot']['descriptions']:22.4f} "
                + " ".join(f"{row[r]:22.4f}" for r in few_rows)
                + f" {s['supervised_ceiling']:22.4f}"
            )
    lines.append("")
    lines.append("calibration of the shipped zero-shot scores: log-loss / expected calibration error")
    temps = list(report["sets"][0]["calibration"])
    lines.append(f"{'set':26} " + " ".join(f"{'T=' + t:>18}" for t in temps))
    for s in report["sets"]:
        lines.append(
            f"{s['name']:26} "
            + " ".join(f"{s['calibration'][t]['log_loss']:9.3f}/{s['calibration'][t]['ece']:.3f}" for t in temps)
        )
    for s in report["sets"]:
        if "abstain" in s:
            lines.append("")
            lines.append(
                f"abstain on {s['name']} without the labels {s['abstain']['left_out']}: "
                "their texts should abstain, the others keep their label"
            )
            lines.append(
                f"{'min_margin':>10} {'abstained (outside)':>20} {'abstained (inside)':>19} "
                f"{'accuracy kept inside':>21}"
            )
            for r in s["abstain"]["sweep"]:
                lines.append(
                    f"{r['min_margin']:10.1f} {r['abstained_outside']:20.3f} {r['abstained_inside']:19.3f} "
                    f"{r['accuracy_of_kept_inside']:21.3f}"
                )
    return "\n".join(lines)


def write_report(report: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model-quality.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
