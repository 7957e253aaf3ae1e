"""Tokenizers for tests: the exact e5 (XLM-R) tokenizer and a small Chinese BERT WordPiece one."""

from __future__ import annotations

from pathlib import Path

from stream_classifier.corpus import sentiment_corpus
from stream_classifier.model.build import default_sources


def e5_tokenizer_file() -> Path:
    return default_sources()[1]


def write_bert_vocab(directory: Path, max_chars: int = 3000) -> Path:
    """A character-level Chinese WordPiece vocab (StructBERT-style), built from real texts."""
    counts: dict[str, int] = {}
    for item in sentiment_corpus()[:4000]:
        for ch in item.text:
            counts[ch] = counts.get(ch, 0) + 1
    chars = [c for c, _ in sorted(counts.items(), key=lambda kv: -kv[1]) if not c.isspace()][:max_chars]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ascii_tokens = [chr(c) for c in range(33, 127)] + ["##" + chr(c) for c in range(97, 123)]
    vocab = list(dict.fromkeys(specials + ascii_tokens + chars + ["这", "句", "话", "属", "于", "类", "别"]))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return path
