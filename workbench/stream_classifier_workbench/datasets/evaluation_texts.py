"""Every text the project evaluates on: what no distillation corpus may hold."""

from __future__ import annotations

import re


def normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def evaluation_texts() -> dict[str, set[str]]:
    """Per evaluation set, its texts (whitespace-normalized): the labeled sets of `model quality`,
    the 2,000 reviews of `model eval`, and both parts of every `labels eval` set (the design parts
    are tuned on, so they are not training text either)."""
    from stream_classifier_workbench.datasets import opinion_sets
    from stream_classifier_workbench.datasets.labeled_sets import load_all
    from stream_classifier_workbench.datasets.reviews import evaluation_split

    sets = {labeled.name: {normalized(t) for t in labeled.texts} for labeled in load_all()}
    sets["model-eval-reviews"] = {normalized(item.text) for item in evaluation_split()[0]}
    for name, rows in opinion_sets.SETS.items():
        sets[f"{name} (design and test)"] = {normalized(r.text) for split in ("design", "test") for r in rows(split)}
    return sets


def without_evaluation_texts(texts: list[str], held: dict[str, set[str]] | None = None) -> tuple[list[str], int]:
    """The texts that are in no evaluation set, and how many were dropped."""
    every = set().union(*(held or evaluation_texts()).values())
    kept = [t for t in texts if normalized(t) not in every]
    return kept, len(texts) - len(kept)
