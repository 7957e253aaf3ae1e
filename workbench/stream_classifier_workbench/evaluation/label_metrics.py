"""How well a label set's scores match gold labels: per-label precision/recall/F1, a confusion
matrix, accuracy and macro-F1; a suggested temperature (single-label) and per-label thresholds
(multi-label). Pure numpy on score matrices, no model."""

from __future__ import annotations

import numpy as np

from stream_classifier.model.vectors import softmax

TEMPERATURE_GRID = np.geomspace(1e-3, 1.0, 301)
CALIBRATION_BINS = 10


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}


def single_label_report(names: list[str], gold: np.ndarray, predicted: np.ndarray) -> dict:
    """gold, predicted: label indices per text."""
    k = len(names)
    confusion = np.zeros((k, k), dtype=np.int64)  # rows: gold, columns: predicted
    np.add.at(confusion, (gold, predicted), 1)
    per_label = {}
    for j, name in enumerate(names):
        tp = int(confusion[j, j])
        per_label[name] = _prf(tp, int(confusion[:, j].sum()) - tp, int(confusion[j, :].sum()) - tp)
    present = [name for name in names if per_label[name]["support"]]
    return {
        "accuracy": float(np.trace(confusion) / max(len(gold), 1)),
        # over the labels the data has: a label nobody wrote gold for has no recall to average
        "macro_f1": float(np.mean([per_label[n]["f1"] for n in present])) if present else 0.0,
        "per_label": per_label,
        "confusion": {"labels": names, "matrix": confusion.tolist()},
    }


def multi_label_report(names: list[str], gold: np.ndarray, predicted: np.ndarray) -> dict:
    """gold, predicted: boolean [texts, labels]."""
    per_label, counts = {}, {}
    for j, name in enumerate(names):
        g, p = gold[:, j], predicted[:, j]
        tp, fp, fn = int((g & p).sum()), int((~g & p).sum()), int((g & ~p).sum())
        per_label[name] = _prf(tp, fp, fn)
        counts[name] = {"tp": tp, "fp": fp, "fn": fn, "tn": int((~g & ~p).sum())}
    present = [name for name in names if per_label[name]["support"]]
    return {
        "accuracy": float(np.mean((gold == predicted).all(axis=1))),  # exact match of the label set
        "macro_f1": float(np.mean([per_label[n]["f1"] for n in present])) if present else 0.0,
        "per_label": per_label,
        "confusion": {"per_label": counts},
    }


def best_threshold(scores: np.ndarray, gold: np.ndarray) -> tuple[float | None, float]:
    """The threshold that maximizes F1 of `scores >= threshold` against `gold` (booleans), halfway
    between the last score taken and the next; None when the data has no positive."""
    positives = int(gold.sum())
    if positives == 0:
        return None, 0.0
    order = np.argsort(-scores, kind="stable")
    s, g = scores[order], gold[order]
    tp = np.cumsum(g)
    taken = np.arange(1, len(s) + 1)
    f1 = 2 * tp / (taken + positives)
    # cut only where the score changes, so equal scores fall on the same side
    valid = np.r_[s[1:] < s[:-1], True]
    k = int(np.argmax(np.where(valid, f1, -1)))
    threshold = float(s[k]) if k + 1 == len(s) else float((s[k] + s[k + 1]) / 2)
    return threshold, float(f1[k])


def nll(logits: np.ndarray, gold: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(gold)), gold].mean())


def expected_calibration_error(probs: np.ndarray, gold: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == gold
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            error += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(error)


def suggest_temperature(logits: np.ndarray, gold: np.ndarray, current: float) -> dict:
    """The softmax temperature over `logits` (scores before the softmax) that minimizes the negative
    log-likelihood of the gold labels: the top label does not change, its score becomes a calibrated
    confidence."""
    losses = np.array([nll(logits, gold, t) for t in TEMPERATURE_GRID])
    best = float(TEMPERATURE_GRID[int(np.argmin(losses))])
    return {
        "current": current,
        "suggested": round(best, 4),
        "nll_current": nll(logits, gold, current),
        "nll_suggested": float(losses.min()),
        "ece_current": expected_calibration_error(softmax(logits / current, axis=1), gold),
        "ece_suggested": expected_calibration_error(softmax(logits / best, axis=1), gold),
    }
