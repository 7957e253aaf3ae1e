"""Rounding a linear layer's weights to int8 so that its outputs, not its weights, stay close.

Each weight column gets one symmetric scale (max |w| / levels). Rounding every weight to its
nearest level (round-to-nearest) treats the errors as independent; with calibration inputs X the
error that matters is X (W - Q), and the weights not rounded yet can absorb the error of those
already rounded. That is GPTQ (Frantar et al., 2022, "Accurate Post-Training Quantization for
Generative Pre-trained Transformers"): rows of W (input channels) are rounded one at a time and
the rounding error is spread over the remaining rows through the inverse of H = X^T X, in blocks
of 128 rows. Measured on the default model (docs/int8.md): 7-bit levels rounded this way keep
the outputs as close to fp32 as 8-bit levels rounded to nearest.
"""

from __future__ import annotations

import numpy as np


def per_column_scale(weight: np.ndarray, levels: int) -> np.ndarray:
    absmax = np.abs(weight).max(axis=0)
    return np.where(absmax > 0, absmax / levels, 1.0).astype(np.float32)


def round_to_nearest(weight: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """[K, N] fp32 -> int8 [K, N] in [-levels, levels] and fp32 scale [N]."""
    scale = per_column_scale(weight, levels)
    q = np.clip(np.rint(weight / scale), -levels, levels).astype(np.int8)
    return q, scale


def error_compensated(
    weight: np.ndarray, gram: np.ndarray, levels: int, damp: float = 0.01, block: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """[K, N] fp32 and H = X^T X [K, K] of calibration inputs -> int8 [K, N], fp32 scale [N].

    The scale is round_to_nearest's: only which of the two nearest levels a weight takes changes.
    """
    k = weight.shape[0]
    scale = per_column_scale(weight, levels).astype(np.float64)
    w = weight.astype(np.float64).T.copy()  # [N, K]: a row per output column
    h = gram.astype(np.float64).copy()
    dead = np.diag(h) == 0  # channels never active in calibration
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h += damp * np.mean(np.diag(h)) * np.eye(k)
    h_inv = np.linalg.cholesky(np.linalg.inv(h)).T  # upper Cholesky factor of H^-1
    q = np.zeros_like(w)
    for start in range(0, k, block):
        end = min(start + block, k)
        w_block = w[:, start:end].copy()
        errors = np.zeros_like(w_block)
        h_block = h_inv[start:end, start:end]
        for i in range(end - start):
            column = w_block[:, i]
            rounded = np.clip(np.rint(column / scale), -levels, levels)
            q[:, start + i] = rounded
            error = (column - rounded * scale) / h_block[i, i]
            w_block[:, i:] -= np.outer(error, h_block[i, i:])
            errors[:, i] = error
        w[:, end:] -= errors @ h_inv[start:end, end:]
    return q.T.astype(np.int8), scale.astype(np.float32)
