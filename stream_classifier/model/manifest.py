"""The manifest of a built model directory (model.onnx, tokenizer.json, manifest.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

MANIFEST_FILE = "manifest.json"
INT8_FILE = "model.onnx"  # the shipped model
FP32_FILE = "model.fp32.onnx"  # kept for evaluation
TOKENIZER_FILE = "tokenizer.json"


def model_cache_root() -> Path:
    base = os.environ.get("SC_MODEL_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stream-classifier" / "models"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: str
    engine: Literal["embedding", "nli"]
    source: dict
    max_length: int
    pooling: Literal["mean", "cls"] = "mean"
    normalize: bool = True
    text_prefix: str = ""
    label_prefix: str = ""
    inputs: list[str]
    output: str
    entailment_index: int | None = None
    contradiction_index: int | None = None
    label2id: dict[str, int] | None = None
    quantization: dict = {}
    sizes: dict[str, int] = {}
    fingerprint: str
    opset: int
    tools: dict[str, str] = {}

    @classmethod
    def load(cls, model_dir: str | Path) -> Manifest:
        path = Path(model_dir) / MANIFEST_FILE
        if not path.exists():
            raise FileNotFoundError(
                f"{model_dir} is not a built model directory (no {MANIFEST_FILE}); run `stream-classifier model build`"
            )
        return cls.model_validate_json(path.read_text())

    def save(self, model_dir: str | Path) -> None:
        (Path(model_dir) / MANIFEST_FILE).write_text(json.dumps(self.model_dump(), indent=2, ensure_ascii=False) + "\n")
