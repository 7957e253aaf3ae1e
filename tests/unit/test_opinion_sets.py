"""The evaluation data of the shipped label sets: real texts from pinned packages, a design part and a
test part that share no text (and no chat), the same rows on every run."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from stream_classifier.labels import load_label_set
from stream_classifier_workbench.datasets.opinion_sets import (
    EDC_LABELS,
    Row,
    main,
    opinion_rows,
    review_polarity,
    sentiment_rows,
    split_of,
    topic_rows,
    urgency_rows,
)


def test_the_design_and_test_parts_share_no_text_and_no_chat():
    design, test = opinion_rows("design"), opinion_rows("test")
    assert not {r.text for r in design} & {r.text for r in test}
    groups: dict[str, set[str]] = {}
    for line in EDC_LABELS.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split(",")
        groups.setdefault(fields[3], set()).add(fields[9])
    assert all(len(splits) == 1 for splits in groups.values())


def test_the_opinion_set_mixes_chat_turns_reviews_and_headlines_in_every_label():
    test = opinion_rows("test")
    counts = Counter((r.source, r.label) for r in test)
    assert counts[("review", "complaint")] == counts[("review", "praise")] == 500
    assert counts[("headline", "other")] == 100
    assert {label for (source, label) in counts if source == "edc"} == set(
        load_label_set("configs/labels/opinion_zh.yaml").names
    )
    assert len(test) == 1871  # 771 hand-labeled chat turns + 1,000 reviews + 100 headlines


def test_the_sentiment_set_has_its_labels_only():
    rows = sentiment_rows("test")
    assert {r.label for r in rows} == set(load_label_set("configs/labels/sentiment.yaml").names)


# the counts of GUIDELINES.md section 7 (design, test)
TOPICS = {
    "logistics": (131, 172),
    "quality": (84, 131),
    "product_info": (75, 98),
    "price_payment": (98, 179),
    "order_aftersales": (67, 106),
    "service": (14, 22),
    "other": (45, 63),
}
URGENCY = {"urgent": (58, 67), "routine": (456, 704)}


@pytest.mark.parametrize(
    ("rows_of", "label_file", "counts"),
    [(topic_rows, "topic_zh.yaml", TOPICS), (urgency_rows, "urgency_zh.yaml", URGENCY)],
    ids=["topic-zh", "urgency-zh"],
)
def test_the_topic_and_urgency_sets_are_the_chat_turns_with_their_labels(rows_of, label_file, counts):
    design, test = rows_of("design"), rows_of("test")
    assert (len(design), len(test)) == (514, 771)  # every hand-labeled chat turn, nothing else
    assert {r.source for r in design + test} == {"edc"}
    assert not {r.text for r in design} & {r.text for r in test}
    assert [r.text for r in design] == [r.text for r in opinion_rows("design") if r.source == "edc"]
    for part, rows in enumerate((design, test)):
        assert Counter(r.label for r in rows) == {label: n[part] for label, n in counts.items()}
    assert set(counts) == set(load_label_set(f"configs/labels/{label_file}").names)


def test_the_command_writes_the_new_sets(tmp_path):
    out = tmp_path / "urgency.jsonl"
    assert main(["--set", "urgency-zh", "--split", "design", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 514 and rows[0].keys() == {"text", "label", "source"}
    assert Counter(r["label"] for r in rows)["urgent"] == 58


def test_splits_come_from_the_text_not_from_a_random_state():
    assert split_of("房间很干净") == split_of("房间很干净")
    shares = Counter(split_of(f"text {i}") for i in range(4000))
    assert 0.37 < shares["design"] / 4000 < 0.43


def test_the_review_bar_counts_only_the_reviews_it_labels():
    rows = [
        Row("a", "complaint", "review", "negative"),
        Row("b", "complaint", "review", "negative"),
        Row("c", "praise", "review", "positive"),
        Row("d", "praise", "review", "positive"),
        Row("e", "inquiry", "edc"),
    ]
    bar = review_polarity(rows, ["suggestion", "praise", "praise", "uncertain", "praise"], "uncertain")
    assert bar["reviews"] == 4 and bar["labeled"] == 3
    assert bar["right_of_labeled"] == 2 / 3 and bar["praise_of_negative"] == 1
