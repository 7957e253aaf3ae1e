"""The engines on the real default model: labels, caches, one tokenizer call per batch."""

import numpy as np

from stream_classifier.labels import load_label_set, parse_label_set
from stream_classifier.model.engines import EmbeddingEngine, load_engine

SENTIMENT = "configs/labels/sentiment.yaml"


def test_obvious_sentiment(default_model_dir):
    engine = load_engine(default_model_dir)
    result = engine.classify(
        ["质量太差了，用了两天就坏了，再也不买了", "非常满意，物超所值，强烈推荐！"], load_label_set(SENTIMENT)
    )
    assert [result.top(i)[0] for i in range(2)] == ["negative", "positive"]
    assert np.allclose(result.scores.sum(axis=1), 1.0, atol=1e-5)
    record = result.as_dict(0)
    assert record["label_set_version"].startswith("sentiment@") and record["model_id"] == engine.model_id


def test_opinion_labels(default_model_dir):
    engine = load_engine(default_model_dir)
    result = engine.classify(
        ["快递一周都没到，客服也不回复，太气人了", "请问怎么申请退款？", "建议增加夜间模式"],
        load_label_set("configs/labels/opinion_zh.yaml"),
    )
    assert [result.top(i)[0] for i in range(3)] == ["complaint", "inquiry", "suggestion"]


def test_repeat_cache_skips_the_model_and_keys_on_label_set_version(default_model_dir):
    engine = load_engine(default_model_dir, cache_entries=1000)
    label_set = load_label_set(SENTIMENT)
    texts = ["还不错", "太慢了", "还不错"]
    calls = []
    original = engine._raw_scores_many
    engine._raw_scores_many = lambda t, p: calls.append(list(t)) or original(t, p)
    first = engine.classify(texts, label_set)
    assert calls == [["还不错", "太慢了"]], "a repeat inside one batch runs once"
    second = engine.classify(texts, label_set)
    assert len(calls) == 1 and second.cache_hits == 3
    assert np.array_equal(first.scores, second.scores)
    changed = label_set.model_copy(update={"temperature": 0.05})
    engine.classify(texts, changed)
    assert len(calls) == 2, "a new label-set version is not served from the old entries"


def test_labels_are_encoded_once_per_version_and_texts_tokenized_once_per_batch(default_model_dir):
    engine = load_engine(default_model_dir, cache_entries=0)
    assert isinstance(engine, EmbeddingEngine)
    label_set = load_label_set(SENTIMENT)
    encoded, tokenized = [], []
    encode_labels, encode_batch = engine._encode_labels, engine.model.tokenizer.encode_batch
    engine._encode_labels = lambda ls: encoded.append(ls.version) or encode_labels(ls)

    class CountingTokenizer:
        def __getattr__(self, name):
            return getattr(engine_tokenizer, name)

        def encode_batch(self, texts, **kwargs):
            tokenized.append(len(texts))
            return encode_batch(texts, **kwargs)

    engine_tokenizer = engine.model.tokenizer
    engine.model.tokenizer = CountingTokenizer()
    for _ in range(3):
        engine.classify([f"第{i}条评论，还可以" for i in range(40)], label_set)
    assert encoded == [label_set.version]
    assert tokenized[1:] == [40, 40, 40], "texts: one tokenizer call per batch"


def test_multi_label_thresholds(default_model_dir):
    engine = load_engine(default_model_dir)
    label_set = parse_label_set(
        {
            "name": "m",
            "multi_label": True,
            "default_threshold": 0.80,
            "labels": [
                {"name": "物流", "description": "快递 物流 送货"},
                {"name": "价格", "description": "价格 贵 便宜"},
            ],
        }
    )
    result = engine.classify(["快递太慢了，而且价格也贵"], label_set)
    record = result.as_dict(0)
    assert set(record["labels"]) <= {"物流", "价格"}
    assert all(record["scores"][name] >= 0.80 for name in record["labels"])
    assert record["scores"]["物流"] != record["scores"]["价格"]


def test_examples_override_descriptions_that_get_them_wrong(default_model_dir):
    engine = load_engine(default_model_dir, cache_entries=0)
    text = "这家餐厅的菜很好吃，服务员也热情"
    misleading = {
        "name": "e",
        "labels": [{"name": "a", "description": "体育比赛"}, {"name": "b", "description": "美食餐厅"}],
    }
    assert engine.classify([text], parse_label_set(misleading)).top(0)[0] == "b"
    food = ["餐馆的红烧肉很入味", "这家店的火锅味道不错", "饭菜可口，分量很足", "点的菜上得很快，很好吃"]
    sports = ["主队二比一赢下比赛", "他在决赛中打破了世界纪录", "篮球联赛今晚开打", "球员上半场进了两个球"]
    with_examples = {
        "name": "e",
        "labels": [
            {"name": "a", "description": "体育比赛", "examples": food},
            {"name": "b", "description": "美食餐厅", "examples": sports},
        ],
    }
    assert engine.classify([text], parse_label_set(with_examples)).top(0)[0] == "a"


def test_examples_that_agree_with_the_descriptions_change_nothing(default_model_dir):
    engine = load_engine(default_model_dir, cache_entries=0)
    plain = {
        "name": "e",
        "labels": [{"name": "food", "description": "美食餐厅"}, {"name": "sports", "description": "体育比赛"}],
    }
    agreeing = {
        "name": "e",
        "labels": [
            {"name": "food", "description": "美食餐厅", "examples": ["这家店的火锅味道不错", "饭菜可口，分量很足"]},
            {"name": "sports", "description": "体育比赛", "examples": ["主队二比一赢下比赛", "篮球联赛今晚开打"]},
        ],
    }
    texts = ["红烧肉很入味", "球员进了两个球"]
    np.testing.assert_allclose(
        engine.classify(texts, parse_label_set(plain)).scores,
        engine.classify(texts, parse_label_set(agreeing)).scores,
        atol=1e-6,
    )


def test_several_descriptions_and_abstain(default_model_dir):
    engine = load_engine(default_model_dir, cache_entries=0)
    label_set = parse_label_set(
        {
            "name": "s",
            "abstain": {"label": "none of these", "min_score": 0.99},
            "labels": [
                {"name": "positive", "description": ["好评，满意", "东西很好，推荐购买"]},
                {"name": "negative", "description": ["差评，失望", "质量太差，要求退货"]},
            ],
        }
    )
    result = engine.classify(["质量太差了，我要退货", "今天是星期三"], label_set)
    assert result.top(0)[0] == "negative"
    record = result.as_dict(1)
    assert record["label"] == "none of these"
    assert record["score"] == max(record["scores"].values())
