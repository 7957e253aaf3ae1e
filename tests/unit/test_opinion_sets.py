"""The evaluation data of the shipped label sets: real texts from pinned packages, a design part and a
test part that share no text (and no chat), the same rows on every run."""

from __future__ import annotations

from collections import Counter

from stream_classifier.labels import load_label_set
from stream_classifier_workbench.datasets.opinion_sets import (
    EDC_LABELS,
    Row,
    opinion_rows,
    review_polarity,
    sentiment_rows,
    split_of,
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
