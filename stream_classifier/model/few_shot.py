"""Label vectors from descriptions and examples: prototypes mixed with a weight the examples choose.

A label's zero-shot vector is the mean of its descriptions' unit embeddings. With examples, each
label also gets a prototype (the unit mean of its examples), and the label vector becomes
unit(description vector + w * prototype). The weight w is chosen per label-set version by
leave-one-out over the examples themselves (each example classified by vectors built without it),
the smallest w winning ties, so a few unrepresentative examples cannot drag the labels off their
descriptions: measured on five labeled sets, 4 examples per label never scored below zero-shot,
where a fixed weight of 1 lost up to 3.5 points (`stream-classifier model quality`).
"""

from __future__ import annotations

import numpy as np

from stream_classifier.model.vectors import unit_rows

MIXING_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def description_vectors(vectors: np.ndarray, owners: np.ndarray, labels: int) -> np.ndarray:
    """One unit vector per label: the mean of its descriptions' unit vectors."""
    vectors = unit_rows(vectors)
    return unit_rows(np.stack([vectors[owners == j].mean(axis=0) for j in range(labels)]))


def _prototypes(examples: np.ndarray, owners: np.ndarray, labels: int, dims: int) -> np.ndarray:
    out = np.zeros((labels, dims), dtype=np.float64)
    for j in range(labels):
        mine = examples[owners == j]
        if len(mine):
            out[j] = unit_rows(mine.mean(axis=0))
    return out


def leave_one_out_hits(descriptions: np.ndarray, examples: np.ndarray, owners: np.ndarray, weight: float) -> int:
    labels, dims = descriptions.shape
    sums = np.zeros((labels, dims), dtype=np.float64)
    counts = np.zeros(labels, dtype=np.int64)
    np.add.at(sums, owners, examples)
    np.add.at(counts, owners, 1)
    hits = 0
    for row, owner in zip(examples, owners):
        held_sums, held_counts = sums.copy(), counts.copy()
        held_sums[owner] -= row
        held_counts[owner] -= 1
        prototypes = np.where(held_counts[:, None] > 0, unit_rows(held_sums / np.maximum(held_counts, 1)[:, None]), 0.0)
        vectors = unit_rows(descriptions + weight * prototypes)
        hits += int(np.argmax(vectors @ row) == owner)
    return hits


def mixing_weight(descriptions: np.ndarray, examples: np.ndarray, owners: np.ndarray) -> float:
    if len(examples) == 0:
        return 0.0
    examples = unit_rows(examples.astype(np.float64))
    scored = [(leave_one_out_hits(descriptions.astype(np.float64), examples, owners, w), -w) for w in MIXING_WEIGHTS]
    return -max(scored)[1]


def label_vectors(descriptions: np.ndarray, examples: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, float]:
    """Label vectors [labels, dims] (float32) and the mixing weight the examples chose."""
    weight = mixing_weight(descriptions, examples, owners)
    if weight == 0.0:
        return descriptions.astype(np.float32), 0.0
    prototypes = _prototypes(unit_rows(examples.astype(np.float64)), owners, *descriptions.shape)
    return unit_rows(descriptions + weight * prototypes).astype(np.float32), weight
