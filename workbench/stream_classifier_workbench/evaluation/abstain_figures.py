"""A label set's figures as the engine itself labels (abstain applied): the share labeled, the accuracy
of the labeled, per-label precision / recall / F1 and macro-F1 with an abstained text counted as wrong;
and, for a set whose rows carry a review's polarity (the opinion-zh parts), the review target: a negative
review answered complaint or suggestion and a positive one praise, of the reviews labeled.
`labels eval` scores the top label; this is what an operator sees in the output.

    python -m stream_classifier_workbench.evaluation.abstain_figures [--model NAME|DIR] LABELS DATA [LABELS DATA ...]
"""

from __future__ import annotations

import argparse
import json
import sys

from stream_classifier.labels import load_label_set
from stream_classifier.model.engines import load_engine
from stream_classifier.startup import model_dir
from stream_classifier_workbench.datasets.opinion_sets import Row, review_polarity


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model name or a built model directory (default: the default model)")
    parser.add_argument("pairs", nargs="+", metavar="LABELS DATA")
    args = parser.parse_args(argv)
    if len(args.pairs) % 2:
        parser.error("give label sets and data files in pairs: LABELS DATA [LABELS DATA ...]")
    engine = load_engine(model_dir(args.model), cache_entries=0)
    for labels, data in zip(args.pairs[0::2], args.pairs[1::2]):
        label_set = load_label_set(labels)
        rows = [json.loads(line) for line in open(data, encoding="utf-8")]
        given = []
        for start in range(0, len(rows), 64):
            result = engine.classify([r["text"] for r in rows[start : start + 64]], label_set)
            given += [result.top(i)[0] for i in range(len(result.scores))]
        gold = [r["label"] for r in rows]
        labeled = [(g, p) for g, p in zip(gold, given) if p in label_set.names]
        f1s, cells = [], []
        for name in label_set.names:
            tp = sum(g == p == name for g, p in zip(gold, given))
            fp = sum(p == name != g for g, p in zip(gold, given))
            fn = sum(g == name != p for g, p in zip(gold, given))
            prec, rec = tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
            f1s.append(f1)
            cells.append(f"{name} P {prec:.3f} R {rec:.3f} F1 {f1:.3f}")
        print(
            f"{label_set.version} on {data}: labeled {len(labeled) / len(rows):.1%}, "
            f"accuracy of the labeled {sum(g == p for g, p in labeled) / max(len(labeled), 1):.3f}, "
            f"accuracy (abstained wrong) {sum(g == p for g, p in zip(gold, given)) / len(rows):.3f}, "
            f"macro-F1 (abstained wrong) {sum(f1s) / len(f1s):.3f}\n  " + "\n  ".join(cells)
        )
        if any("polarity" in r for r in rows):
            abstained = label_set.abstain.label if label_set.abstain else None
            bar = review_polarity([Row(**r) for r in rows], given, abstained)
            print(
                f"  reviews: {bar['right_of_labeled']:.1%} right of the {bar['labeled_share']:.1%} labeled "
                f"({bar['labeled']} of {bar['reviews']}); negative reviews called praise: {bar['praise_of_negative']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
