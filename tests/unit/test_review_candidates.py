"""Which records the stream offers to the review queue: per label-set version, the least sure it has
seen (a bounded number), never a text the operator already made an example, never a multi-label set.
The broker side is tested end to end in tests/serve/test_review_queue_page.py."""

from __future__ import annotations

import json
import random

from stream_classifier.labels import parse_label_set
from stream_classifier.records import ReviewCandidate, SourcePosition, review_key
from stream_classifier.settings import Settings
from stream_classifier.stream.review_candidates import LeastSure, ReviewWriter, margin_of

SOURCE = SourcePosition(topic="posts", partition=0, offset=7)
SET = parse_label_set(
    {
        "name": "opinion",
        "abstain": {"label": "uncertain", "min_margin": 0.05},
        "labels": [
            {"name": "complaint", "description": "投诉", "examples": ["快递太慢了"]},
            {"name": "praise", "description": "好评"},
        ],
    }
)


class RecordingProducer:
    def __init__(self):
        self.records = []

    def produce(self, topic, key, value, on_delivery):
        self.records.append((topic, key, value))


def _writer(**review) -> tuple[ReviewWriter, RecordingProducer]:
    from stream_classifier.observability import Metrics

    producer = RecordingProducer()
    settings = Settings(review={"size": 3, "max_margin": 0.2, **review})
    return ReviewWriter(settings, Metrics(), producer), producer


def _result(complaint: float, label: str | None = None) -> dict:
    scores = {"complaint": complaint, "praise": round(1 - complaint, 6)}
    return {"label": label or max(scores, key=scores.get), "scores": scores, "label_set_version": SET.version}


def test_margin_is_the_gap_between_the_two_best_scores():
    assert round(margin_of({"a": 0.5, "b": 0.3, "c": 0.2}), 6) == 0.2
    assert margin_of({"a": 1.0}) == 1.0


def test_only_records_that_enter_the_least_sure_are_admitted_and_the_count_stays_bounded():
    least = LeastSure(size=10, max_margin=1.0)
    rng = random.Random(3)
    margins = [rng.random() for _ in range(10_000)]
    admitted = [m for m in margins if least.admit("v1", m, abstained=False)]
    assert len(admitted) < 200  # about size * ln(records / size), not one per record
    assert sorted(margins)[:10] == sorted(admitted)[:10]  # the ten least sure were all written


def test_a_new_version_starts_its_own_selection_and_old_ones_are_forgotten():
    least = LeastSure(size=1, max_margin=1.0)
    assert least.admit("v1", 0.1, False) and not least.admit("v1", 0.2, False)
    assert least.admit("v2", 0.2, False)
    for version in ("v3", "v4", "v5", "v6"):
        least.admit(version, 0.5, False)
    assert least.admit("v1", 0.3, False), "v1 was forgotten: its selection starts again"


def test_sure_records_are_not_candidates_but_abstentions_are():
    least = LeastSure(size=5, max_margin=0.2)
    assert not least.admit("v", 0.5, abstained=False)
    assert least.admit("v", 0.5, abstained=True)


def test_a_candidate_record_is_keyed_by_set_and_text_and_valid_against_its_schema():
    writer, producer = _writer()
    writer.offer(SET, "房间还行，就是有点吵", _result(0.52), SOURCE)
    writer.offer(SET, "非常满意", _result(0.05), SOURCE)  # sure: not a candidate
    [(topic, key, value)] = producer.records
    assert topic == "posts-labeled-review"
    assert key == review_key("opinion", "房间还行，就是有点吵")
    candidate = ReviewCandidate.model_validate(json.loads(value))
    assert candidate.label == "complaint" and round(candidate.margin, 6) == 0.04
    assert not candidate.abstained and candidate.source == SOURCE


def test_an_abstention_is_flagged_and_an_answered_text_is_not_asked_again():
    writer, producer = _writer()
    writer.offer(SET, "一般般", _result(0.51, label="uncertain"), SOURCE)
    writer.offer(SET, "快递太慢了", _result(0.51), SOURCE)  # an example of complaint already
    [(_, _, value)] = producer.records
    assert json.loads(value)["abstained"] is True


def test_multi_label_sets_have_no_margin_and_give_no_candidates():
    multi = parse_label_set({"name": "topics", "multi_label": True, "labels": [{"name": "a"}, {"name": "b"}]})
    writer, producer = _writer()
    writer.offer(multi, "text", {**_result(0.5), "label_set_version": multi.version}, SOURCE)
    assert producer.records == []
