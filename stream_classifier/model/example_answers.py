"""An operator's answer sticks to the text it was given for: a text that is one of a single-label
set's examples gets that example's label with score 1, whatever the fitted labels make of it (one
answer among hundreds of examples barely moves a linear head). A text given to two labels is left to
the model."""

from __future__ import annotations

import numpy as np

from stream_classifier.labels import LabelSet


def example_answers(label_set: LabelSet) -> dict[str, int]:
    """Example text -> the index of its label, for a single-label set."""
    if label_set.multi_label:
        return {}
    owners: dict[str, set[int]] = {}
    for j, label in enumerate(label_set.labels):
        for example in label.examples:
            owners.setdefault(example, set()).add(j)
    return {text: min(js) for text, js in owners.items() if len(js) == 1}


def apply_answers(scores: np.ndarray, texts: list[str], answers: dict[str, int]) -> np.ndarray:
    """Rows of texts that are examples become one-hot on their label (in place)."""
    if not answers:
        return scores
    for i, text in enumerate(texts):
        j = answers.get(text)
        if j is not None:
            scores[i] = 0.0
            scores[i, j] = 1.0
    return scores
