"""A built model at run time: the ONNX session, the tokenizer, and length-sorted sub-batches.

Only onnxruntime, tokenizers and numpy are needed here.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from stream_classifier.model.cpu_features import cpu_features
from stream_classifier.model.manifest import FP32_FILE, INT8_FILE, TOKENIZER_FILE, Manifest  # noqa: F401 - FP32_FILE re-exported

log = logging.getLogger(__name__)
SAFE_WEIGHT_LEVELS = 64  # see model/quantize.py: no vpmaddubsw pair of such weights saturates


def needs_exact_int8_gemm(manifest: Manifest, variant: str) -> bool:
    """An INT8 model with full-range weights (built before the 7-bit scheme, or elsewhere) on a CPU
    whose int8 GEMM saturates: onnxruntime must convert its weights to uint8 (exact, slower)."""
    levels = manifest.quantization.get("weight_levels", 127)
    return variant != FP32_FILE and levels > SAFE_WEIGHT_LEVELS and cpu_features().int8_saturates


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class SubBatching:
    """How a batch is cut into length-sorted sub-batches (dynamic padding)."""

    max_texts: int = 64
    max_tokens: int = 8192  # padded tokens per sub-batch: rows x longest row
    # rows x longest^2 bounds the attention buffers, which set onnxruntime's arena high-water mark:
    # two 512-token rows in one run added 37 MB of RSS for good (measured); now long rows run alone
    max_attention_cells: int = 512 * 512
    call_overhead_tokens: int = 48  # what one extra session.run costs, in padded tokens


def length_sorted_chunks(lengths: np.ndarray, policy: SubBatching) -> list[np.ndarray]:
    """Indices cut into sub-batches of similar length with the fewest padded tokens.

    Rows are sorted by length, then split optimally (dynamic programming over the sorted
    order): cost = padded tokens + a per-call overhead, bounded by count, padded tokens and
    attention cells (rows x longest^2, which sizes onnxruntime's attention buffers).
    """
    order = np.argsort(lengths, kind="stable")
    sorted_len = lengths[order].astype(np.int64)
    n = len(order)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    cut = np.zeros(n + 1, dtype=np.int64)
    for end in range(1, n + 1):
        longest = int(sorted_len[end - 1])
        for start in range(end - 1, max(-1, end - 1 - policy.max_texts), -1):
            rows = end - start
            if rows > 1 and (
                rows * longest > policy.max_tokens or rows * longest * longest > policy.max_attention_cells
            ):
                break
            cost = best[start] + rows * longest + policy.call_overhead_tokens
            if cost < best[end]:
                best[end], cut[end] = cost, start
    chunks, end = [], n
    while end > 0:
        chunks.append(order[cut[end] : end])
        end = cut[end]
    return chunks[::-1]


class OnnxModel:
    def __init__(self, model_dir: str | Path, variant: str = INT8_FILE, threads: int | None = None):
        self.model_dir = Path(model_dir)
        self.manifest = Manifest.load(self.model_dir)
        path = self.model_dir / variant
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        self.variant = variant
        self.threads = threads or default_threads()
        self.session = self.open_session()
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / TOKENIZER_FILE))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self._disable_word_cache()
        self.pad_id = self._pad_id()
        self.model_id = self.manifest.model_id + ("" if variant == INT8_FILE else f"+{Path(variant).stem}")

    def open_session(self, profile_prefix: str | None = None) -> ort.InferenceSession:
        """A session on the model file; with profile_prefix, onnxruntime writes a trace there."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No spin-waiting between ops: spinning threads starve librdkafka's threads and any
        # other process on a 2-core machine (measured: INT8 fell from 75 to 45 texts/s with
        # four bench processes alive, and the stream fell to 0.84 of the engine).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if needs_exact_int8_gemm(self.manifest, self.variant):
            log.warning(
                "%s has weights beyond +-%d and this CPU's int8 GEMM saturates (%s): running it "
                "exact and slower (session.x64quantprecision); rebuild it for full speed",
                self.model_dir,
                SAFE_WEIGHT_LEVELS,
                cpu_features().int8_kernel,
            )
            options.add_session_config_entry("session.x64quantprecision", "1")
        if profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        return ort.InferenceSession(str(self.model_dir / self.variant), options, providers=["CPUExecutionProvider"])

    def _disable_word_cache(self) -> None:
        """Turn off the tokenizer model's word -> pieces cache (10,000 entries by default).

        Chinese text has no spaces, so each "word" it caches is a whole post: distinct texts
        never hit it, and filling it grew RSS by 8 MB over 6,000 texts (measured) for no speed.
        """
        resize = getattr(self.tokenizer.model, "_resize_cache", None)
        if resize is not None:
            resize(0)

    def _pad_id(self) -> int:
        for token in ("<pad>", "[PAD]"):
            token_id = self.tokenizer.token_to_id(token)
            if token_id is not None:
                return token_id
        return 0

    @property
    def max_length(self) -> int:
        return self.manifest.max_length

    def run_matrix(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray | None) -> np.ndarray:
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.manifest.inputs:
            feeds["token_type_ids"] = types if types is not None else np.zeros_like(ids)
        return self.session.run([self.manifest.output], feeds)[0]
