"""A record's label must not depend on its batch-mates (issue: faithful and deterministic INT8).

500 real texts alone, in batches of 32 in two different shuffles, and in length-sorted
batches give identical labels and scores within 1e-4 -- with the default model and with an
NLI model. Padding does not change a result either.
"""

import random

import numpy as np
import pytest
from tiny_checkpoints import make_checkpoint

from stream_classifier.labels import load_label_set, parse_label_set
from stream_classifier.model.engines import load_engine
from stream_classifier.model.runtime import SubBatching
from stream_classifier_workbench.building.build import build_from_hf
from stream_classifier_workbench.datasets.reviews import stream_texts

TOLERANCE = 1e-4
TEXTS = 500


def _scores_in_batches(engine, texts, label_set, order, batch_size):
    scores = np.zeros((len(texts), len(label_set.labels)), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        scores[idx] = engine.classify([texts[i] for i in idx], label_set).scores
    return scores


def _assert_batch_independent(engine, texts, label_set):
    alone = _scores_in_batches(engine, texts, label_set, list(range(len(texts))), 1)
    lengths = [len(t) for t in texts]
    runs = {"sorted by length, batches of 32": sorted(range(len(texts)), key=lengths.__getitem__)}
    for seed in (1, 2):
        order = list(range(len(texts)))
        random.Random(seed).shuffle(order)
        runs[f"shuffle {seed}, batches of 32"] = order
    for name, order in runs.items():
        batched = _scores_in_batches(engine, texts, label_set, order, 32)
        assert np.array_equal(batched.argmax(1), alone.argmax(1)), f"labels changed: {name}"
        assert np.abs(batched - alone).max() <= TOLERANCE, f"scores moved: {name}"


def test_default_model_is_batch_independent(default_model_dir):
    engine = load_engine(default_model_dir, cache_entries=0)
    texts = stream_texts(limit=TEXTS, seed=11)
    _assert_batch_independent(engine, texts, load_label_set("configs/labels/opinion_zh.yaml"))


def test_distilled_student_is_batch_independent(student_model_dir):
    engine = load_engine(student_model_dir, cache_entries=0)
    texts = stream_texts(limit=TEXTS, seed=11)
    _assert_batch_independent(engine, texts, load_label_set("configs/labels/opinion_zh.yaml"))


def test_nli_model_is_batch_independent(tmp_path):
    src = make_checkpoint(tmp_path / "ck", "bert", "nli")
    engine = load_engine(build_from_hf(src, "nli", tmp_path / "built", quiet=True), cache_entries=0)
    labels = parse_label_set({"name": "t", "labels": [{"name": n} for n in ("投诉", "咨询", "建议", "表扬", "其他")]})
    _assert_batch_independent(engine, stream_texts(limit=TEXTS, seed=12), labels)


@pytest.mark.parametrize("model", ["default_model_dir", "student_model_dir"])
def test_padding_does_not_change_an_embedding(model, request):
    engine = load_engine(request.getfixturevalue(model), cache_entries=0)
    text = "物流很快，包装完好，下次还来"
    ids = engine.model.tokenizer.encode("query: " + text).ids
    tight = engine.model.run_matrix(np.array([ids]), np.ones((1, len(ids)), dtype=np.int64), None)
    padded = engine.model.run_matrix(
        np.array([ids + [engine.model.pad_id] * 100]), np.array([[1] * len(ids) + [0] * 100]), None
    )
    assert np.abs(tight - padded).max() <= 1e-5


def test_sub_batch_policy_does_not_change_results(default_model_dir):
    texts = stream_texts(limit=96, seed=13)
    label_set = load_label_set("configs/labels/sentiment.yaml")
    results = []
    for policy in (SubBatching(max_texts=1), SubBatching(max_texts=8, max_tokens=512), SubBatching()):
        engine = load_engine(default_model_dir, sub_batching=policy, cache_entries=0)
        results.append(engine.classify(texts, label_set).scores)
    for other in results[1:]:
        assert np.abs(other - results[0]).max() <= TOLERANCE


@pytest.mark.parametrize("variant", ["model.onnx"])
def test_repeated_runs_are_bitwise_identical(default_model_dir, variant):
    engine = load_engine(default_model_dir, variant, cache_entries=0)
    texts = stream_texts(limit=64, seed=14)
    label_set = load_label_set("configs/labels/opinion_zh.yaml")
    first = engine.classify(texts, label_set).scores
    assert np.array_equal(first, engine.classify(texts, label_set).scores)
