"""Trim the 250,002-piece XLM-R vocabulary to the pieces a Chinese and English stream uses.

Kept: the special tokens; every piece the tokenizer produces on the trimming corpus
(`distill_corpus`: news, literature, dialogue, word lists with their capitalised and prefixed
forms, label-like sentences); every one-character piece, emoji included (so no character the full
vocabulary knows becomes unknown); every piece made of CJK characters and punctuation only (a
Chinese run is segmented as a whole, so keeping them all leaves Chinese segmentation as it was);
ASCII pieces of at most two characters and ASCII pieces without letters (codes, numbers, product
names). A text that needed a dropped piece gets smaller pieces.

One id map (`kept[new_id] = old_id`) rewrites tokenizer.json's vocabulary and selects the
embedding rows, so the two cannot disagree.
"""

from __future__ import annotations

import copy
import hashlib
import unicodedata
from pathlib import Path

import numpy as np

WORD_START = "▁"
SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0x20000 <= o <= 0x2FA1F
        or 0xF900 <= o <= 0xFAFF
        or 0x3000 <= o <= 0x303F
        or 0xFF00 <= o <= 0xFFEF
        or 0x2E80 <= o <= 0x2FDF
    )


def _always_kept(piece: str) -> bool:
    text = piece[len(WORD_START) :] if piece.startswith(WORD_START) and piece != WORD_START else piece
    if len(text) == 1:  # every character the vocabulary has stays known
        return True
    if all(is_cjk(c) or unicodedata.category(c)[0] in "PS" for c in text):
        return True  # Chinese runs and punctuation runs ("。”") segment as before
    # short Latin pieces and numbers: what product names, codes and usernames are made of
    return text.isascii() and (len(text) <= 2 or not any(c.isalpha() for c in text))


def save_vocabulary(path: Path, kept: np.ndarray) -> Path:
    np.savez_compressed(path, kept_ids=np.asarray(kept, dtype=np.int32))
    return Path(path)


def load_vocabulary(path: Path) -> np.ndarray:
    with np.load(path) as archive:
        return archive["kept_ids"].astype(np.int64)


def vocabulary_fingerprint(kept: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(kept, dtype=np.int64).tobytes()).hexdigest()


def produced_ids(tokenizer, texts: list[str], batch: int = 4096) -> set[int]:
    produced: set[int] = set()
    for start in range(0, len(texts), batch):
        for encoding in tokenizer.encode_batch(texts[start : start + batch], add_special_tokens=False):
            produced.update(encoding.ids)
    return produced


def kept_ids(pieces: list[str], produced: set[int]) -> np.ndarray:
    """Old ids in the order they keep: ascending, so the special tokens stay at 0..3."""
    keep = [i for i, piece in enumerate(pieces) if i in produced or piece in SPECIAL_PIECES or _always_kept(piece)]
    return np.array(keep, dtype=np.int64)


def trimmed_tokenizer_json(document: dict, kept: np.ndarray) -> dict:
    """tokenizer.json with only the kept pieces, every id it names renumbered through the map."""
    new_id = {int(old): new for new, old in enumerate(kept)}
    out = copy.deepcopy(document)
    vocab = document["model"]["vocab"]
    out["model"]["vocab"] = [vocab[int(old)] for old in kept]
    out["model"]["unk_id"] = new_id[document["model"]["unk_id"]]
    for token in out.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    processor = out.get("post_processor") or {}
    for token in (processor.get("special_tokens") or {}).values():
        token["ids"] = [new_id[i] for i in token["ids"]]
    return out


def unchanged_share(original, trimmed, kept: np.ndarray, texts: list[str]) -> dict:
    """How the trimmed tokenizer segments texts it was not built from, against the original."""
    same = smaller = unknown_new = other = 0
    unk_original, unk_trimmed = original.token_to_id("<unk>"), trimmed.token_to_id("<unk>")
    for a, b in zip(original.encode_batch(texts), trimmed.encode_batch(texts)):
        if [int(kept[i]) for i in b.ids] == a.ids:
            same += 1
        elif b.ids.count(unk_trimmed) > a.ids.count(unk_original):
            unknown_new += 1
        elif len(b.ids) > len(a.ids):
            smaller += 1
        else:
            other += 1
    return {
        "texts": len(texts),
        "unchanged": same / max(len(texts), 1),
        "smaller_pieces": smaller,
        "new_unknowns": unknown_new,
        "other_changes": other,
    }
