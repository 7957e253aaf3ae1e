"""Tokenizers for tests: the exact e5 (XLM-R) tokenizer and a small Chinese BERT WordPiece one."""

from __future__ import annotations

from pathlib import Path

from stream_classifier.corpus import chinese_vocab
from stream_classifier.model.build import default_sources


def e5_tokenizer_file() -> Path:
    return default_sources()[1]


def write_bert_vocab(directory: Path, size: int = 3000) -> Path:
    """A character-level Chinese WordPiece vocab (StructBERT-style), built from real texts."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "vocab.txt"
    path.write_text("\n".join(chinese_vocab(size)) + "\n", encoding="utf-8")
    return path
