"""`stream-classifier labels eval`: how well a label set (and, with --compare, another) labels the
user's own data with the model the consumer runs."""

from __future__ import annotations

import time

import numpy as np

from stream_classifier.labels import LabelSet
from stream_classifier.model.engines import ZeroShotEngine
from stream_classifier.model.vectors import softmax
from stream_classifier_workbench.evaluation.label_metrics import (
    best_threshold,
    multi_label_report,
    single_label_report,
    suggest_temperature,
)
from stream_classifier_workbench.evaluation.labeled_data import LabeledDataError, LabeledRow
from stream_classifier_workbench.progress import ProgressBar


def _scores(
    engine: ZeroShotEngine, label_set: LabelSet, texts: list[str], batch_size: int, progress: ProgressBar
) -> np.ndarray:
    engine.prepare(label_set)
    out = []
    for start in range(0, len(texts), batch_size):
        out.append(engine.classify(texts[start : start + batch_size], label_set).scores)
        progress.update(len(out[-1]))
    return np.concatenate(out).astype(np.float64)


def _gold_indices(rows: list[LabeledRow], label_set: LabelSet) -> np.ndarray:
    names = label_set.names
    unknown = sorted({lbl for row in rows for lbl in row.labels} - set(names))
    if unknown:
        raise LabeledDataError(f"gold labels not in label set {label_set.name} ({names}): {unknown}")
    return np.array([[lbl in row.labels for lbl in names] for row in rows], dtype=bool)


def evaluate_label_set(
    engine: ZeroShotEngine, label_set: LabelSet, rows: list[LabeledRow], batch_size: int = 32, stream=None
) -> dict:
    names, texts = label_set.names, [row.text for row in rows]
    gold = _gold_indices(rows, label_set)
    progress = ProgressBar(len(texts), f"texts ({label_set.name})", stream)
    started = time.perf_counter()
    linear_head = engine.engine == "embedding" and label_set.few_shot == "linear"
    temperature_applies = engine.engine == "embedding" and not label_set.multi_label and not linear_head
    if temperature_applies:
        # the cosines before the softmax (the multi-label embedding scores), to fit a temperature on
        logits = _scores(engine, label_set.model_copy(update={"multi_label": True}), texts, batch_size, progress)
        scores = softmax(logits / label_set.temperature, axis=1)
    else:
        scores = _scores(engine, label_set, texts, batch_size, progress)
    elapsed = time.perf_counter() - started
    entry = {
        "label_set": label_set.version,
        "multi_label": label_set.multi_label,
        "engine": engine.engine,
        "texts_per_s": len(texts) / elapsed,
    }
    if label_set.multi_label:
        thresholds = np.array(label_set.thresholds())
        entry.update(multi_label_report(names, gold, scores >= thresholds))
        suggested = {}
        for j, name in enumerate(names):
            threshold, f1 = best_threshold(scores[:, j], gold[:, j])
            suggested[name] = {
                "current": float(thresholds[j]),
                "suggested": None if threshold is None else round(threshold, 4),
                "f1_current": entry["per_label"][name]["f1"],
                "f1_suggested": f1,
            }
        entry["suggested_thresholds"] = suggested
    else:
        single = gold.sum(axis=1) != 1
        if single.any():
            n = int(np.argmax(single))
            raise LabeledDataError(
                f"label set {label_set.name} is single-label but row {n + 1} has "
                f"{int(gold[n].sum())} gold labels: {list(rows[n].labels)}"
            )
        gold_index = gold.argmax(axis=1)
        entry.update(single_label_report(names, gold_index, scores.argmax(axis=1)))
        if temperature_applies:
            entry["suggested_temperature"] = suggest_temperature(logits, gold_index, label_set.temperature)
        else:
            entry["suggested_temperature"] = {
                "current": label_set.temperature,
                "suggested": None,
                "why": "a linear head's logits are fitted (few_shot: linear), the temperature does not apply"
                if linear_head
                else f"the {engine.engine} engine does not use the temperature",
            }
    return entry


def compare(reports: list[dict]) -> dict:
    base, other = reports
    shared = [n for n in base["per_label"] if n in other["per_label"]]
    return {
        "accuracy_delta": other["accuracy"] - base["accuracy"],
        "macro_f1_delta": other["macro_f1"] - base["macro_f1"],
        "f1_delta": {n: other["per_label"][n]["f1"] - base["per_label"][n]["f1"] for n in shared},
    }


def format_report(report: dict) -> str:
    lines = [f"{report['texts']} labeled texts from {report['data']}, model {report['model_id']}"]
    for entry in report["label_sets"]:
        mode = "multi-label" if entry["multi_label"] else "single-label"
        accuracy_name = "exact-match accuracy" if entry["multi_label"] else "accuracy"
        lines += [
            "",
            f"{entry['label_set']} ({mode}): {accuracy_name} {entry['accuracy']:.4f}, "
            f"macro-F1 {entry['macro_f1']:.4f}, {entry['texts_per_s']:.1f} texts/s"
            + (f", on {entry['data']}" if entry.get("data", report["data"]) != report["data"] else ""),
        ]
        width = max(len("label"), *(len(n) for n in entry["per_label"]))
        lines.append(f"  {'label':<{width}} {'precision':>9} {'recall':>7} {'F1':>7} {'support':>8}")
        for name, m in entry["per_label"].items():
            lines.append(f"  {name:<{width}} {m['precision']:9.4f} {m['recall']:7.4f} {m['f1']:7.4f} {m['support']:8d}")
        confusion = entry["confusion"]
        if "matrix" in confusion:
            cell = max(6, *(len(n) for n in confusion["labels"]))
            lines.append("  confusion (rows: gold, columns: predicted)")
            lines.append("  " + " " * width + "".join(f" {n:>{cell}}" for n in confusion["labels"]))
            for name, row in zip(confusion["labels"], confusion["matrix"]):
                lines.append(f"  {name:<{width}}" + "".join(f" {v:>{cell}d}" for v in row))
        else:
            lines.append(
                "  per label: "
                + "; ".join(
                    f"{n} tp {c['tp']} fp {c['fp']} fn {c['fn']} tn {c['tn']}"
                    for n, c in confusion["per_label"].items()
                )
            )
        if "suggested_thresholds" in entry:
            lines.append("  suggested thresholds (max F1 on this data):")
            for name, s in entry["suggested_thresholds"].items():
                lines.append(
                    f"    {name}: {s['current']:.4f} -> {s['suggested']} "
                    f"(F1 {s['f1_current']:.4f} -> {s['f1_suggested']:.4f})"
                )
        t = entry.get("suggested_temperature")
        if t and t["suggested"] is not None:
            lines.append(
                f"  suggested temperature: {t['current']:g} -> {t['suggested']:g} "
                f"(NLL {t['nll_current']:.4f} -> {t['nll_suggested']:.4f}, "
                f"calibration error {t['ece_current']:.4f} -> {t['ece_suggested']:.4f}; top labels unchanged)"
            )
        elif t:
            lines.append(f"  temperature: {t['why']}")
    if "comparison" in report:
        c = report["comparison"]
        lines += [
            "",
            f"second vs first: accuracy {c['accuracy_delta']:+.4f}, macro-F1 {c['macro_f1_delta']:+.4f}"
            + ("; F1 " + ", ".join(f"{n} {d:+.4f}" for n, d in c["f1_delta"].items()) if c["f1_delta"] else ""),
        ]
    return "\n".join(lines)
