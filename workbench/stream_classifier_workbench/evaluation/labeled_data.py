"""Labeled texts from a user's own data: JSON lines or CSV, a text and its gold label(s) per row.

JSON lines: {"text": "...", "label": "complaint"} or, multi-label, {"text": ..., "labels": ["a", "b"]}.
CSV: a header row with `text` and `label` columns; several labels separated by `|` or `;`.
Field names are configurable. Errors name the file, the line and the field.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

LABEL_SEPARATORS = re.compile(r"[|;]")


class LabeledDataError(ValueError):
    pass


@dataclass(frozen=True)
class LabeledRow:
    text: str
    labels: tuple[str, ...]  # single-label data: exactly one


def _labels(value, where: str) -> tuple[str, ...]:
    if value is None:
        raise LabeledDataError(f"{where}: no gold label")
    if isinstance(value, str):
        parts = [p.strip() for p in LABEL_SEPARATORS.split(value)]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = [v.strip() for v in value]
    else:
        raise LabeledDataError(f"{where}: a gold label is a string or a list of strings, got {value!r}")
    return tuple(dict.fromkeys(p for p in parts if p))


def _row(text, labels, where: str) -> LabeledRow:
    if not isinstance(text, str) or not text.strip():
        raise LabeledDataError(f"{where}: the text is missing or empty")
    return LabeledRow(text, _labels(labels, where))


def load_labeled(path: str | Path, text_field: str = "text", label_field: str = "label") -> list[LabeledRow]:
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabeledDataError(f"{path}: cannot read: {exc}") from None
    rows: list[LabeledRow] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path} line {n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LabeledDataError(f"{where}: not JSON: {exc}") from None
            if not isinstance(obj, dict):
                raise LabeledDataError(f"{where}: expected an object with {text_field!r} and {label_field!r}")
            gold = obj.get(label_field, obj.get(label_field + "s"))
            rows.append(_row(obj.get(text_field), gold, where))
    elif path.suffix.lower() in (".csv", ".tsv"):
        reader = csv.DictReader(raw.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        columns = reader.fieldnames or []
        label_column = label_field if label_field in columns else label_field + "s"
        for needed in (text_field, label_column):
            if needed not in columns:
                raise LabeledDataError(f"{path}: no column {needed!r} in the header {columns}")
        for record in reader:
            rows.append(_row(record[text_field], record[label_column], f"{path} line {reader.line_num}"))
    else:
        raise LabeledDataError(f"{path}: expected .jsonl or .csv")
    if not rows:
        raise LabeledDataError(f"{path}: no labeled rows")
    return rows
