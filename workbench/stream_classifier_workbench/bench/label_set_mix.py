"""Label sets for measuring what each further set costs: 1, 3 or 10 sets of 5 to 20 labels, made from
the shipped opinion set and the THUCNews headline set (their descriptions, as operators write them)."""

from __future__ import annotations

from stream_classifier.labels import DEFAULT_LABEL_FILE, LabelSet, load_label_set
from stream_classifier_workbench.datasets.labeled_sets import LABEL_SET_DIR

SET_COUNTS = (1, 3, 10)


def _shapes() -> list[tuple[str, list]]:
    opinion = load_label_set(DEFAULT_LABEL_FILE)
    headlines = load_label_set(LABEL_SET_DIR / "thucnews-headlines.yaml")
    both = [*opinion.labels, *headlines.labels]
    twenty = [*both, *(lbl.model_copy(update={"name": f"{lbl.name}-2"}) for lbl in opinion.labels)]
    return [("opinion", opinion.labels), ("topics", headlines.labels), ("mixed", both), ("wide", twenty)]


def mixed_label_sets(count: int) -> list[LabelSet]:
    """`count` distinct sets (5, 10, 15, 20 labels in turn); the first is the shipped opinion set."""
    shapes = _shapes()
    sets = [load_label_set(DEFAULT_LABEL_FILE)]
    for i in range(1, count):
        name, labels = shapes[i % len(shapes)]
        sets.append(LabelSet(name=f"{name}-{i}", labels=labels, temperature=0.01 + 0.001 * i))
    return sets
