"""Several label sets in one call: the same scores as one set at a time, from one forward pass of
the embedding engine; the repeat cache keeps serving each set on its own."""

from __future__ import annotations

import numpy as np
import pytest

from stream_classifier.labels import load_label_set
from stream_classifier.model.engines import load_engine

pytestmark = pytest.mark.model
SETS = [
    "configs/labels/opinion_zh.yaml",
    "configs/labels/sentiment.yaml",
    "workbench/stream_classifier_workbench/datasets/label_sets/thucnews-headlines.yaml",
]
TEXTS = [
    "快递三天都没到，客服也不回复",
    "质量很好，物流也快",
    "央行宣布下调存款准备金率",
    "快递三天都没到，客服也不回复",
]


def test_each_set_scores_as_it_does_alone_from_one_forward_pass(default_model_dir):
    label_sets = [load_label_set(path) for path in SETS]
    alone = load_engine(default_model_dir, cache_entries=0)
    expected = [alone.classify(TEXTS, label_set) for label_set in label_sets]

    engine = load_engine(default_model_dir, cache_entries=0)
    for label_set in label_sets:
        engine.prepare(label_set)  # label encoding is not the texts' forward pass
    passes = []
    embed = engine.embed
    engine.embed = lambda texts, prefix=None: passes.append(list(texts)) or embed(texts, prefix)
    together = engine.classify_many(TEXTS, label_sets)
    assert passes == [TEXTS[:3]], "one forward pass for every set, a repeated text once"
    for got, want in zip(together, expected):
        assert got.label_set_version == want.label_set_version
        assert np.allclose(got.scores, want.scores, atol=1e-6)
        assert [got.top(i) for i in range(len(TEXTS))] == [want.top(i) for i in range(len(TEXTS))]


def test_a_text_cached_for_every_set_runs_no_model_and_a_new_set_runs_it_once(default_model_dir):
    label_sets = [load_label_set(path) for path in SETS]
    engine = load_engine(default_model_dir, cache_entries=1000)
    engine.classify_many(TEXTS, label_sets[:2])
    passes = []
    embed = engine.embed
    engine.embed = lambda texts, prefix=None: passes.append(list(texts)) or embed(texts, prefix)
    again = engine.classify_many(TEXTS, label_sets[:2])
    assert passes == [] and [r.cache_hits for r in again] == [len(TEXTS)] * 2
    engine.prepare(label_sets[2])
    passes.clear()
    engine.classify_many(TEXTS, label_sets)
    assert passes == [TEXTS[:3]]


def test_ten_sets_stay_encoded_between_batches(default_model_dir):
    from stream_classifier_workbench.bench.label_set_mix import mixed_label_sets

    label_sets = mixed_label_sets(10)
    engine = load_engine(default_model_dir, cache_entries=0)
    for label_set in label_sets:
        engine.prepare(label_set)
    encoded = []
    encode = engine._encode_labels
    engine._encode_labels = lambda label_set: encoded.append(label_set.name) or encode(label_set)
    for _ in range(2):
        engine.classify_many(TEXTS, label_sets)
    assert encoded == [], "a set in use was evicted and encoded again"
