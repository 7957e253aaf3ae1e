"""What a student is distilled on, every source named with the sha-256 of its texts:

    generic   the PyPI corpus of `distill_corpus` (the shipped student)
    wide      the generic corpus and a seeded sample of each of `wide_sources` (chat, Tatoeba, WordNet)
    stream    the operator's own texts (`operator_texts`), general text from the PyPI corpus
              (a share of their number, so the student keeps what its label sets' words mean), and
              the served label sets' names, descriptions and examples (what zero-shot compares)

Evaluation texts (`evaluation_texts`) are dropped from both and counted."""

from __future__ import annotations

import hashlib
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from stream_classifier_workbench.training.distill_corpus import Source, training_sources, training_texts
from stream_classifier_workbench.training.operator_texts import OperatorTexts


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    sources: list[dict]
    evaluation_texts_dropped: int | None  # None: the evaluation sets could not be read to check
    label_texts: tuple[str, ...] = ()  # the served label sets' texts among them: `Recipe.label_weight`'s anchors

    @property
    def sha256(self) -> str:
        return texts_sha256(self.texts)


def texts_sha256(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8", "surrogatepass")).hexdigest()


def source_entry(source: Source, texts: list[str] | None = None) -> dict:
    used = source.texts if texts is None else texts
    return {
        "name": source.name,
        "kind": source.kind,
        "language": source.language,
        "origin": source.origin,
        "texts": len(used),
        "sha256": texts_sha256(used),
    }


def _drop_evaluation_texts(texts: list[str], strict: bool) -> tuple[list[str], int | None]:
    from stream_classifier_workbench.datasets.evaluation_texts import without_evaluation_texts

    try:
        return without_evaluation_texts(texts)
    except Exception as exc:  # an operator's machine may lack the evaluation sets' packages or PyPI
        if strict:
            raise
        print(f"[distill] evaluation texts not checked ({exc.__class__.__name__}: {exc})", file=sys.stderr)
        return texts, None


def generic_corpus(seed: int, max_texts: int, lexicon_words: int) -> Corpus:
    sources = training_sources(lexicon_words)
    texts, dropped = _drop_evaluation_texts(training_texts(sources, seed, max_texts + 100), strict=True)
    return Corpus(texts[:max_texts], [source_entry(s) for s in sources], dropped)


def wide_corpus(seed: int, max_texts: int, lexicon_words: int, per_source: int) -> Corpus:
    from stream_classifier_workbench.training.wide_sources import wide_sources

    rng = random.Random(seed)
    generic = generic_corpus(seed, max_texts, lexicon_words)
    taken = set(generic.texts)
    texts = list(generic.texts)
    entries = list(generic.sources)
    dropped = generic.evaluation_texts_dropped or 0
    for source in wide_sources():
        pool, source_dropped = _drop_evaluation_texts([t for t in source.texts if t.strip() and t not in taken], True)
        sample = rng.sample(pool, min(len(pool), per_source))
        taken.update(sample)
        texts += sample
        dropped += source_dropped or 0
        entries.append(source_entry(source, sample) | {"of": len(source.texts)})
    rng.shuffle(texts)
    return Corpus(texts, entries, dropped)


def label_set_texts(files: list[Path]) -> Source:
    """The names, descriptions and examples of the label sets the student will serve."""
    from stream_classifier.labels import load_label_set

    texts: list[str] = []
    origins = []
    for path in files:
        label_set = load_label_set(path)
        for label in label_set.labels:
            described = label.description or []
            texts += [label.name, *([described] if isinstance(described, str) else described), *label.examples]
        origins.append(f"{path} (sha256 {hashlib.sha256(Path(path).read_bytes()).hexdigest()})")
    return Source("label-sets", "label-like", "zh+en", "; ".join(origins), sorted(set(t for t in texts if t.strip())))


def stream_corpus(
    operator: OperatorTexts, label_files: list[Path], seed: int, general_share: float, lexicon_words: int
) -> Corpus:
    rng = random.Random(seed)
    own, dropped = _drop_evaluation_texts(operator.texts, strict=False)
    general_sources = training_sources(lexicon_words)
    taken = set(own)
    general_pool = [t for t in training_texts(general_sources, seed, 10**7) if t not in taken]
    general = rng.sample(general_pool, min(len(general_pool), round(len(own) * general_share)))
    if dropped is not None:
        general, general_dropped = _drop_evaluation_texts(general, strict=False)
        dropped += general_dropped or 0
    labels = label_set_texts(label_files)
    texts = sorted(set(own) | set(general) | set(labels.texts))
    rng.shuffle(texts)
    sources = [
        {
            "name": "operator",
            "kind": "stream",
            "language": "zh+en",
            "origin": operator.origin,
            "texts": len(own),
            "sha256": texts_sha256(own),
            "read": operator.read,
            "left_out": operator.skipped,
        },
        {
            "name": "general",
            "kind": "general",
            "language": "zh+en",
            "origin": "a seeded sample of the generic corpus: " + ", ".join(s.name for s in general_sources),
            "texts": len(general),
            "sha256": texts_sha256(general),
        },
        source_entry(labels),
    ]
    return Corpus(texts, sources, dropped, tuple(labels.texts))
