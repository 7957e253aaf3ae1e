"""A student that starts from another student's weights instead of the teacher's layers
(`model distill --start-from NAME`): the shipped student, or one made earlier with `--name`. Both
share the shipped Chinese and English vocabulary and the teacher's frozen word embeddings, so every
other tensor carries over as it is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stream_classifier_workbench.building.compact_weights import load_weights
from stream_classifier_workbench.building.vocab_trim import vocabulary_fingerprint
from stream_classifier_workbench.training.operator_texts import DistillInputError

WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


def weights_folder(name: str) -> Path:
    """Where `model distill` wrote that student's weights and manifest (its default --out)."""
    from stream_classifier.model.catalog import STUDENT
    from stream_classifier.model.manifest import model_cache_root
    from stream_classifier_workbench.building.build import STUDENT_WEIGHTS

    return STUDENT_WEIGHTS if name == STUDENT else model_cache_root() / "distilled" / name


def start_manifest(name: str, layers: int) -> dict:
    """The manifest of the student to start from, checked against the one to be made."""
    from stream_classifier.model.catalog import STUDENT, STUDENT_NAME

    if name != STUDENT and not STUDENT_NAME.fullmatch(name):
        raise DistillInputError(f"{name!r}: a student's name is lower-case letters, digits, '.', '_', '-'")
    folder = weights_folder(name)
    manifest_path, weights_path = folder / f"{name}.json", folder / f"{name}.npz"
    if not manifest_path.exists() or not weights_path.exists():
        raise DistillInputError(f"{name}: no student weights in {folder} (make one with `model distill --name {name}`)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest["shape"]["layers"] != layers:
        raise DistillInputError(f"{name} has {manifest['shape']['layers']} layers, not the {layers} of --layers")
    return manifest


def start_weights(name: str, layers: int, kept: np.ndarray) -> dict[str, np.ndarray]:
    """Every trained tensor of that student (the word embeddings stay the teacher's)."""
    manifest = start_manifest(name, layers)
    if manifest["vocabulary"]["kept_ids_sha256"] != vocabulary_fingerprint(kept):
        raise DistillInputError(f"{name} was made on another vocabulary than this work directory's")
    weights = load_weights(weights_folder(name) / f"{name}.npz")
    return {k: v for k, v in weights.items() if k != WORD_EMBEDDINGS}
