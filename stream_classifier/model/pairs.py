"""Model inputs assembled from cached token ids with numpy: no tokenizer call per pair.

The special-token layout (`<s> A </s>`, `[CLS] A [SEP] B [SEP]`, `<s> A </s></s> B </s>`, ...)
is read once from the tokenizer's own post-processor, so the assembled rows equal what
`tokenizer(text, hypothesis, truncation="only_first")` produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer


@dataclass(frozen=True)
class SpecialLayout:
    prefix: np.ndarray  # ids before the first sequence
    middle: np.ndarray  # ids between the sequences (empty for single)
    suffix: np.ndarray  # ids after the last sequence
    prefix_types: np.ndarray
    middle_types: np.ndarray
    suffix_types: np.ndarray
    first_type: int
    second_type: int

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)


def _runs(enc) -> SpecialLayout:
    seq, ids, types = enc.sequence_ids, np.array(enc.ids), np.array(enc.type_ids)
    positions = {s: [i for i, v in enumerate(seq) if v == s] for s in (0, 1)}
    first_start, first_end = positions[0][0], positions[0][-1] + 1
    if positions[1]:
        second_start, second_end = positions[1][0], positions[1][-1] + 1
        second_type = int(types[second_start])
    else:
        second_start = second_end = first_end
        second_type = 0
    return SpecialLayout(
        prefix=ids[:first_start],
        middle=ids[first_end:second_start],
        suffix=ids[second_end:],
        prefix_types=types[:first_start],
        middle_types=types[first_end:second_start],
        suffix_types=types[second_end:],
        first_type=int(types[first_start]),
        second_type=second_type,
    )


def single_layout(tokenizer: Tokenizer) -> SpecialLayout:
    return _runs(tokenizer.encode("a", add_special_tokens=True))


def pair_layout(tokenizer: Tokenizer) -> SpecialLayout:
    return _runs(tokenizer.encode("a", "b", add_special_tokens=True))


def _padded(rows: list[list[int]] | list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    width = max(1, int(lengths.max()) if len(rows) else 1)
    matrix = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        matrix[i, : len(row)] = row
    return matrix, lengths


@dataclass
class Assembled:
    input_ids: np.ndarray  # [rows, width]
    attention_mask: np.ndarray  # [rows, width]
    token_type_ids: np.ndarray  # [rows, width]
    lengths: np.ndarray  # [rows]


def _place(pos: np.ndarray, start: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask of positions in [start, start+len(values)) and the values gathered there."""
    n = len(values)
    inside = (pos >= start) & (pos < start + n)
    if n == 0:
        return inside, np.zeros_like(pos)
    return inside, values[np.clip(pos - start, 0, n - 1)]


def assemble_pairs(
    text_rows: list[list[int]], hyp_rows: list[list[int]], layout: SpecialLayout, max_length: int, pad_id: int
) -> Assembled:
    """Rows for every (text i, hypothesis j), ordered i-major: row i * len(hyp_rows) + j.

    Truncation only ever shortens the text side ("only_first").
    """
    texts, text_len = _padded(text_rows)
    hyps, hyp_len = _padded(hyp_rows)
    n, m = len(text_rows), len(hyp_rows)
    budget = max_length - layout.count - hyp_len  # [m]
    if (budget < 1).any():
        raise ValueError(f"a hypothesis leaves no room for the text within max_length={max_length}")
    kept = np.minimum(text_len[:, None], budget[None, :])  # [n, m]
    p, mid = len(layout.prefix), len(layout.middle)
    text_start = np.full((n, m, 1), p)
    mid_start = (p + kept)[:, :, None]
    hyp_start = mid_start + mid
    suf_start = hyp_start + hyp_len[None, :, None]
    total = (suf_start + len(layout.suffix))[:, :, 0]  # [n, m]
    width = int(total.max())
    pos = np.arange(width)[None, None, :]

    ids = np.full((n, m, width), pad_id, dtype=np.int64)
    types = np.zeros((n, m, width), dtype=np.int64)
    in_prefix, v = _place(pos, 0, layout.prefix)
    ids = np.where(in_prefix, v, ids)
    _, t = _place(pos, 0, layout.prefix_types)
    types = np.where(in_prefix, t, types)

    in_text = (pos >= text_start) & (pos < mid_start)
    text_vals = texts[np.arange(n)[:, None, None], np.clip(pos - p, 0, texts.shape[1] - 1)]
    ids = np.where(in_text, text_vals, ids)
    types = np.where(in_text, layout.first_type, types)

    for start, values, type_values in (
        (mid_start, layout.middle, layout.middle_types),
        (suf_start, layout.suffix, layout.suffix_types),
    ):
        inside, v = _place(pos, start, values)
        ids = np.where(inside, v, ids)
        _, t = _place(pos, start, type_values)
        types = np.where(inside, t, types)

    in_hyp = (pos >= hyp_start) & (pos < suf_start)
    hyp_vals = hyps[np.arange(m)[None, :, None], np.clip(pos - hyp_start, 0, hyps.shape[1] - 1)]
    ids = np.where(in_hyp, hyp_vals, ids)
    types = np.where(in_hyp, layout.second_type, types)

    mask = (pos < total[:, :, None]).astype(np.int64)
    types = types * mask
    return Assembled(
        ids.reshape(n * m, width), mask.reshape(n * m, width), types.reshape(n * m, width), total.reshape(n * m)
    )


def assemble_singles(text_rows: list[list[int]], layout: SpecialLayout, max_length: int, pad_id: int) -> Assembled:
    """Rows for single texts with special tokens, truncated to max_length."""
    texts, text_len = _padded(text_rows)
    n = len(text_rows)
    kept = np.minimum(text_len, max_length - layout.count)
    p = len(layout.prefix)
    suf_start = (p + kept)[:, None]
    total = suf_start[:, 0] + len(layout.suffix)
    width = int(total.max()) if n else 1
    pos = np.arange(width)[None, :]
    ids = np.full((n, width), pad_id, dtype=np.int64)
    inside, v = _place(pos, 0, layout.prefix)
    ids = np.where(inside, v, ids)
    in_text = (pos >= p) & (pos < suf_start)
    ids = np.where(in_text, texts[np.arange(n)[:, None], np.clip(pos - p, 0, texts.shape[1] - 1)], ids)
    inside, v = _place(pos, suf_start, layout.suffix)
    ids = np.where(inside, v, ids)
    mask = (pos < total[:, None]).astype(np.int64)
    types = np.where(mask == 1, layout.first_type, 0).astype(np.int64)
    return Assembled(ids, mask, types, total)
