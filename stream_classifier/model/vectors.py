"""Unit-length rows: the one normalisation every cosine here goes through."""

from __future__ import annotations

import numpy as np


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """Each row (or a single vector) scaled to length 1; an all-zero row stays zero."""
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)
