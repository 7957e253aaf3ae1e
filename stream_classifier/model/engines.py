"""Two zero-shot engines behind one interface: texts + a label set -> scores [texts x labels].

embedding: cosine(text embedding, label embedding); a label's embedding is the mean of its
           descriptions' embeddings (or its name's), mixed with its examples' prototype by a
           weight chosen by leave-one-out on the examples (or, few_shot: linear, a softmax
           regression fitted on examples and descriptions). 1 forward pass a text.
nli:       entailment logit of (text, hypothesis(label)); one pair per label, assembled from
           cached hypothesis ids and the batch's text ids.

Both: one tokenizer call per batch, length-sorted sub-batches (dynamic padding), label encodings
computed once per label-set version, a repeat cache keyed by (text hash, label-set version,
model id).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stream_classifier.labels import LabelSet
from stream_classifier.model import few_shot
from stream_classifier.model.example_answers import apply_answers, example_answers
from stream_classifier.model.pairs import assemble_pairs, assemble_singles, pair_layout, single_layout
from stream_classifier.model.runtime import INT8_FILE, OnnxModel, SubBatching, length_sorted_chunks
from stream_classifier.model.vectors import softmax, unit_rows

# label-set versions kept encoded: every set a stream or server uses (up to 16 a request), plus the
# versions a hot swap replaces; a few label vectors each
PREPARED_VERSIONS = 64


def abstentions(scores: np.ndarray, label_set: LabelSet) -> np.ndarray:
    """Per text: whether the label set's abstain rule (minimum top score, minimum margin) holds."""
    rule = label_set.abstain
    if rule is None or label_set.multi_label or len(scores) == 0:
        return np.zeros(len(scores), dtype=bool)
    ordered = np.sort(scores, axis=1)
    top, second = ordered[:, -1], ordered[:, -2]
    weak = np.zeros(len(scores), dtype=bool)
    if rule.min_score is not None:
        weak |= top < rule.min_score
    if rule.min_margin is not None:
        weak |= (top - second) < rule.min_margin
    return weak


@dataclass
class Classification:
    """Scores for a batch of texts under one label set."""

    label_set: LabelSet
    scores: np.ndarray  # [texts, labels]: probabilities (single-label) or per-label scores
    model_id: str
    label_set_version: str
    cache_hits: int = 0

    def __post_init__(self) -> None:
        # per-record formatting reads these; the version hashes the whole set, so once per batch
        self.names = self.label_set.names
        self.thresholds = self.label_set.thresholds()
        self.abstained = abstentions(self.scores, self.label_set)

    def top(self, i: int) -> tuple[str, float]:
        """The label and its score; the abstain label (with the best label's score) when the
        label set's rule says none of its labels fits."""
        j = int(self.scores[i].argmax())
        label = self.label_set.abstain.label if self.abstained[i] else self.names[j]
        return label, float(self.scores[i, j])

    def over_threshold(self, i: int) -> list[str]:
        return [name for name, s, t in zip(self.names, self.scores[i], self.thresholds) if s >= t]

    def as_dict(self, i: int) -> dict:
        label, score = self.top(i)
        result = {
            "label": label,
            "score": round(score, 6),
            "scores": {n: round(float(s), 6) for n, s in zip(self.names, self.scores[i].tolist())},
            "label_set_version": self.label_set_version,
            "model_id": self.model_id,
        }
        if self.label_set.multi_label:
            result["labels"] = self.over_threshold(i)
        return result


class RepeatCache:
    """LRU of (text hash, label-set version, model id) -> raw score row."""

    def __init__(self, max_entries: int = 50_000):
        self.max_entries = max_entries
        self._data: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def text_key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, key: tuple) -> np.ndarray | None:
        if self.max_entries <= 0:
            return None
        with self._lock:
            row = self._data.get(key)
            if row is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return row

    def put(self, key: tuple, row: np.ndarray) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._data[key] = row
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class LabelMatrix:
    """The embedding engine's prepared labels: a text's raw scores are unit(text) @ weights.T + bias,
    cosines with the label vectors when the bias is zero (few_shot: centroid)."""

    weights: np.ndarray
    bias: np.ndarray

    def scores(self, unit_vectors: np.ndarray) -> np.ndarray:
        return unit_vectors @ self.weights.T + self.bias


@dataclass
class PreparedLabels:
    label_set: LabelSet
    version: str
    payload: object  # engine-specific: label matrix or hypothesis id rows
    answers: dict[str, int] = field(default_factory=dict)  # example text -> its label's index


@dataclass
class ZeroShotEngine:
    model: OnnxModel
    sub_batching: SubBatching = field(default_factory=SubBatching)
    cache: RepeatCache = field(default_factory=RepeatCache)

    def __post_init__(self) -> None:
        self._prepared: dict[str, PreparedLabels] = {}
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def engine(self) -> str:
        return self.model.manifest.engine

    def prepare(self, label_set: LabelSet) -> PreparedLabels:
        """Encode a label set once per version (call before swapping it in)."""
        version = label_set.version
        with self._lock:
            prepared = self._prepared.get(version)
        if prepared is None:
            prepared = PreparedLabels(label_set, version, self._encode_labels(label_set), example_answers(label_set))
            with self._lock:
                self._prepared[version] = prepared
                while len(self._prepared) > PREPARED_VERSIONS:
                    self._prepared.pop(next(iter(self._prepared)))
        return prepared

    def classify(self, texts: list[str], label_set: LabelSet) -> Classification:
        return self.classify_many(texts, [label_set])[0]

    def classify_many(self, texts: list[str], label_sets: list[LabelSet]) -> list[Classification]:
        """Each text under each label set. A text that any set has not cached runs the model once for
        all of them (the embedding engine: one forward pass, then one small product per set)."""
        prepared = [self.prepare(label_set) for label_set in label_sets]
        raws, keys, missing = [], [], []
        for p in prepared:
            raw = np.zeros((len(texts), len(p.label_set.labels)), dtype=np.float32)
            set_keys = [(RepeatCache.text_key(t), p.version, self.model_id) for t in texts]
            set_missing = []
            for i, key in enumerate(set_keys):
                row = self.cache.get(key)
                if row is None:
                    set_missing.append(i)
                else:
                    raw[i] = row
            raws.append(raw)
            keys.append(set_keys)
            missing.append(set_missing)
        needed = sorted(set().union(*missing))
        if needed:
            # identical texts in one batch run once
            unique: dict[str, int] = {}
            for i in needed:
                unique.setdefault(texts[i], len(unique))
            wanted = [k for k, m in enumerate(missing) if m]
            computed = self._raw_scores_many(list(unique), [prepared[k] for k in wanted])
            for k, rows in zip(wanted, computed):
                for i in missing[k]:
                    row = rows[unique[texts[i]]]
                    raws[k][i] = row
                    self.cache.put(keys[k][i], row)
        return [
            Classification(
                p.label_set,
                apply_answers(self._finalize(raw, p.label_set), texts, p.answers),
                self.model_id,
                p.version,
                cache_hits=len(texts) - len(set_missing),
            )
            for p, raw, set_missing in zip(prepared, raws, missing)
        ]

    # engine-specific parts
    def _encode_labels(self, label_set: LabelSet) -> object:
        raise NotImplementedError

    def _raw_scores(self, texts: list[str], prepared: PreparedLabels) -> np.ndarray:
        raise NotImplementedError

    def _raw_scores_many(self, texts: list[str], prepared: list[PreparedLabels]) -> list[np.ndarray]:
        return [self._raw_scores(texts, p) for p in prepared]

    def _finalize(self, raw: np.ndarray, label_set: LabelSet) -> np.ndarray:
        raise NotImplementedError

    def _tokenize(self, texts: list[str], prefix: str = "") -> list[list[int]]:
        encodings = self.model.tokenizer.encode_batch(
            [prefix + t for t in texts] if prefix else texts, add_special_tokens=False
        )
        return [e.ids for e in encodings]

    def _run_sorted(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Run rows in length-sorted sub-batches, each padded only to its own longest row."""
        outputs: np.ndarray | None = None
        for chunk in length_sorted_chunks(lengths, self.sub_batching):
            width = int(lengths[chunk].max())
            out = self.model.run_matrix(ids[chunk, :width], mask[chunk, :width], types[chunk, :width])
            if outputs is None:
                outputs = np.zeros((len(lengths), out.shape[1]), dtype=np.float32)
            outputs[chunk] = out
        assert outputs is not None
        return outputs


class EmbeddingEngine(ZeroShotEngine):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.layout = single_layout(self.model.tokenizer)

    def embed(self, texts: list[str], prefix: str | None = None) -> np.ndarray:
        prefix = self.model.manifest.text_prefix if prefix is None else prefix
        rows = self._tokenize(texts, prefix)
        batch = assemble_singles(rows, self.layout, self.model.max_length, self.model.pad_id)
        return self._run_sorted(batch.input_ids, batch.attention_mask, batch.token_type_ids, batch.lengths)

    def _encode_labels(self, label_set: LabelSet) -> LabelMatrix:
        """A label's vector: the mean of its descriptions, mixed with its examples' prototype
        by the weight the examples choose; or a linear head fitted on both (model/few_shot.py)."""
        descriptions = [(j, d) for j, label in enumerate(label_set.labels) for d in label.descriptions]
        examples = [(j, ex) for j, label in enumerate(label_set.labels) for ex in label.examples]
        described = self.embed([d for _, d in descriptions], self.model.manifest.label_prefix)
        described_owners = np.array([j for j, _ in descriptions])
        no_bias = np.zeros(len(label_set.labels), dtype=np.float32)
        if not examples:
            matrix = few_shot.description_vectors(described, described_owners, len(label_set.labels))
            return LabelMatrix(matrix.astype(np.float32), no_bias)
        # examples are texts like the stream's, so they are embedded as texts are
        example_vectors = self.embed([ex for _, ex in examples])
        example_owners = np.array([j for j, _ in examples])
        if label_set.few_shot == "linear":
            weights, bias = few_shot.linear_head(
                np.vstack([described, example_vectors]),
                np.concatenate([described_owners, example_owners]),
                len(label_set.labels),
            )
            # _finalize divides by the temperature; the head's logits are fitted, so they pass through as they are
            return LabelMatrix(weights * label_set.temperature, bias * label_set.temperature)
        matrix = few_shot.description_vectors(described, described_owners, len(label_set.labels))
        vectors, _ = few_shot.label_vectors(matrix, example_vectors, example_owners)
        return LabelMatrix(vectors, no_bias)

    def _raw_scores(self, texts: list[str], prepared: PreparedLabels) -> np.ndarray:
        return self._raw_scores_many(texts, [prepared])[0]

    def _raw_scores_many(self, texts: list[str], prepared: list[PreparedLabels]) -> list[np.ndarray]:
        vectors = unit_rows(self.embed(texts))  # one forward pass, whatever the number of sets
        return [p.payload.scores(vectors) for p in prepared]

    def _finalize(self, raw: np.ndarray, label_set: LabelSet) -> np.ndarray:
        if label_set.multi_label:
            return raw  # cosine per label, compared with per-label thresholds
        return softmax(raw / label_set.temperature, axis=1)


class NliEngine(ZeroShotEngine):
    def __post_init__(self) -> None:
        super().__post_init__()
        manifest = self.model.manifest
        if manifest.entailment_index is None:
            raise ValueError(f"{self.model.model_dir}: an NLI model needs entailment_index in its manifest")
        self.layout = pair_layout(self.model.tokenizer)
        self.entailment = manifest.entailment_index
        self.contradiction = manifest.contradiction_index

    def _encode_labels(self, label_set: LabelSet) -> list[list[int]]:
        return self._tokenize(label_set.hypotheses())

    def _raw_scores(self, texts: list[str], prepared: PreparedLabels) -> np.ndarray:
        text_rows = self._tokenize(texts, self.model.manifest.text_prefix)
        hyp_rows = prepared.payload
        pairs = assemble_pairs(text_rows, hyp_rows, self.layout, self.model.max_length, self.model.pad_id)
        logits = self._run_sorted(pairs.input_ids, pairs.attention_mask, pairs.token_type_ids, pairs.lengths)
        logits = logits.reshape(len(texts), len(hyp_rows), -1)
        if not prepared.label_set.multi_label:
            return logits[:, :, self.entailment]  # softmax across labels in _finalize
        if self.contradiction is None:
            return np.log(softmax(logits, axis=2)[:, :, self.entailment])
        return logits[:, :, self.entailment] - logits[:, :, self.contradiction]

    def _finalize(self, raw: np.ndarray, label_set: LabelSet) -> np.ndarray:
        # as the HF zero-shot pipeline defines them: entailment softmax across labels
        # (single-label), entailment vs contradiction per label (multi-label)
        if not label_set.multi_label:
            return softmax(raw, axis=1)
        if self.contradiction is None:
            return np.exp(raw)
        return 1.0 / (1.0 + np.exp(-raw))


def load_engine(
    model_dir: str | Path,
    variant: str = INT8_FILE,
    threads: int | None = None,
    sub_batching: SubBatching | None = None,
    cache_entries: int = 50_000,
) -> ZeroShotEngine:
    model = OnnxModel(model_dir, variant, threads)
    cls = EmbeddingEngine if model.manifest.engine == "embedding" else NliEngine
    return cls(model, sub_batching or SubBatching(), RepeatCache(cache_entries))
