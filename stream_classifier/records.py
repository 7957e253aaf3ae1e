"""Input, output, dead-letter and review-candidate records, and decoding of raw Kafka values.

JSON Schemas in schemas/ are generated from these models (`stream-classifier schemas`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stream_classifier.dlq import headers as names
from stream_classifier.dlq.headers import connect_headers, utf8_prefix
from stream_classifier.settings import InputSettings

# 2: `label_sets`, present only when several label sets are configured, so a record of one set is as in 1
OUTPUT_SCHEMA_VERSION = 2


class DeadLetterReason(str, Enum):
    NOT_UTF8 = "not_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_TEXT = "missing_text"
    EMPTY_TEXT = "empty_text"
    WRONG_TYPE = "wrong_type"
    TEXT_TOO_LONG = "text_too_long"
    NULL_VALUE = "null_value"
    INFERENCE_FAILED = "inference_failed"


class InputRecord(BaseModel):
    """A JSON input record (input.format: json). The text field name is configurable."""

    model_config = ConfigDict(extra="allow", title="stream-classifier input record")

    text: str = Field(min_length=1, description="the text to label (field name: input.text_field)")
    id: str | int | None = Field(default=None, description="optional record id, copied to the output")


class SourcePosition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    timestamp_ms: int | None = Field(default=None, description="the input record's Kafka timestamp")


class SetResult(BaseModel):
    """One label set's answer for a record (under `label_sets` when several sets are configured)."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(description="top label (the abstain label when the set abstained)")
    score: float = Field(description="score of the top label")
    scores: dict[str, float] = Field(description="every label's score")
    labels: list[str] | None = Field(default=None, description="multi-label: labels over their threshold")
    label_set_version: str


class OutputRecord(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        title="stream-classifier output record",
        json_schema_extra={"$id": f"stream-classifier/output-record/v{OUTPUT_SCHEMA_VERSION}"},
    )

    id: str | int | None = Field(description="the input's id, or null")
    text: str | None = Field(default=None, description="the input text (output.include_text)")
    label: str = Field(description="top label")
    score: float = Field(description="score of the top label")
    scores: dict[str, float] = Field(description="every label's score")
    labels: list[str] | None = Field(default=None, description="multi-label: labels over their threshold")
    label_set_version: str
    model_id: str
    label_sets: dict[str, SetResult] | None = Field(
        default=None,
        description="every label set's result by the set's name, when labels.file lists several (the top-level "
        "label fields are the first set's); absent with one set",
    )
    source: SourcePosition
    processed_at_ms: int = Field(description="wall-clock time the label was produced")
    processing_ms: float = Field(description="time from the batch's start to this record's output")


class DeadLetterHeaders(BaseModel):
    """Headers of a dead-letter record; its key and value are the input's bytes, unchanged."""

    model_config = ConfigDict(
        extra="forbid", title="stream-classifier dead-letter record headers", populate_by_name=True
    )

    reason: DeadLetterReason = Field(alias="sc.reason")
    error: str = Field(alias="sc.error", description="human-readable cause")
    source_topic: str = Field(alias="sc.source.topic")
    source_partition: int = Field(alias="sc.source.partition")
    source_offset: int = Field(alias="sc.source.offset")
    source_timestamp_ms: int | None = Field(default=None, alias="sc.source.timestamp")


class DeadLetterRecord(BaseModel):
    """What lands on the dead-letter topic: original key/value bytes plus the sc.* headers."""

    model_config = ConfigDict(extra="forbid", title="stream-classifier dead-letter record")

    key: str | None = Field(description="the input key, bytes unchanged (shown base64 here)")
    value: str | None = Field(description="the input value, bytes unchanged (shown base64 here)")
    headers: DeadLetterHeaders


class ReviewCandidate(BaseModel):
    """A record the stream was least sure of, on topics.review (compacted): keyed by label set and
    text, so a text is queued once per set; a null value (tombstone) means answered."""

    model_config = ConfigDict(extra="forbid", title="stream-classifier review candidate")

    label_set: str = Field(description="the label set's name")
    label_set_version: str = Field(description="the version that labeled it")
    text: str
    label: str = Field(description="the label given (the abstain label when it abstained)")
    scores: dict[str, float] = Field(description="every label's score")
    margin: float = Field(description="top score minus the second: the smaller, the less sure")
    abstained: bool
    source: SourcePosition
    queued_at_ms: int


def review_key(label_set: str, text: str) -> bytes:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"{label_set}/{digest}".encode()


def combined_result(names: list[str], per_set: list[dict]) -> dict:
    """A record's label fields from each set's engine result: the first set's at the top level and,
    with several sets, every set's (SetResult: model_id once, at the top) under `label_sets`."""
    if len(per_set) == 1:
        return per_set[0]
    by_name = {name: {k: v for k, v in r.items() if k != "model_id"} for name, r in zip(names, per_set)}
    return {**per_set[0], "label_sets": by_name}


@dataclass(slots=True)
class Decoded:
    text: str
    record_id: str | int | None


@dataclass(slots=True)
class Rejected:
    reason: DeadLetterReason
    error: str


def decode_value(value: bytes | None, settings: InputSettings) -> Decoded | Rejected:
    """Turn a raw Kafka value into a text to label, or a reason to dead-letter it."""
    if value is None:
        return Rejected(DeadLetterReason.NULL_VALUE, "the record has no value (tombstone)")
    if len(value) > settings.max_text_bytes * 4 + 4096:
        return Rejected(
            DeadLetterReason.TEXT_TOO_LONG,
            f"value of {len(value)} bytes is far over max_text_bytes={settings.max_text_bytes}",
        )
    try:
        raw = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(DeadLetterReason.NOT_UTF8, f"value is not UTF-8: {exc}")
    record_id: str | int | None = None
    if settings.format == "text":
        text = raw
    else:
        try:
            obj: Any = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # ValueError: a JSONDecodeError, or an int of over 4300 digits
            return Rejected(DeadLetterReason.INVALID_JSON, f"value is not JSON: {exc}")
        if not isinstance(obj, dict):
            return Rejected(DeadLetterReason.NOT_AN_OBJECT, f"JSON value is a {type(obj).__name__}, expected an object")
        if settings.text_field not in obj or obj[settings.text_field] is None:
            return Rejected(DeadLetterReason.MISSING_TEXT, f"field {settings.text_field!r} is missing")
        text = obj[settings.text_field]
        if not isinstance(text, str):
            return Rejected(
                DeadLetterReason.WRONG_TYPE,
                f"field {settings.text_field!r} is a {type(text).__name__}, expected a string",
            )
        candidate_id = obj.get(settings.id_field)
        if candidate_id is not None:
            if isinstance(candidate_id, bool) or not isinstance(candidate_id, (str, int)):
                return Rejected(
                    DeadLetterReason.WRONG_TYPE,
                    f"field {settings.id_field!r} is a {type(candidate_id).__name__}, expected a string or an integer",
                )
            record_id = candidate_id
    if not text.strip():
        return Rejected(DeadLetterReason.EMPTY_TEXT, "the text is empty")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > settings.max_text_bytes:
        return Rejected(
            DeadLetterReason.TEXT_TOO_LONG, f"text of {size} bytes is over max_text_bytes={settings.max_text_bytes}"
        )
    return Decoded(text, record_id)


def output_value(
    record_id: str | int | None,
    text: str | None,
    result: dict,
    source: SourcePosition,
    processed_at_ms: int,
    processing_ms: float,
) -> bytes:
    """The output record's value (OutputRecord's fields); `result` holds the engine's label,
    score, scores, labels, label_set_version and model_id. Serialized directly, without
    validation: a test checks these bytes against OutputRecord."""
    record = {
        "id": record_id,
        "text": text,
        **result,
        "source": {
            "topic": source.topic,
            "partition": source.partition,
            "offset": source.offset,
            "timestamp_ms": source.timestamp_ms,
        },
        "processed_at_ms": processed_at_ms,
        "processing_ms": processing_ms,
    }
    # a lone surrogate (a "\ud800" escape in the input) is written as that escape again: the bytes stay UTF-8
    return json.dumps(record, ensure_ascii=False).encode("utf-8", "backslashreplace")


def dead_letter_headers(
    rejected: Rejected,
    source: SourcePosition,
    original: list[tuple[str, bytes]] | None = None,
    connect_connector: str | None = None,
) -> list[tuple[str, bytes]]:
    """The input's own headers followed by the sc.* headers of DeadLetterHeaders, and Kafka
    Connect's __connect.errors.* headers when a connector name is given."""
    headers = list(original or []) + [
        (names.REASON, rejected.reason.value.encode()),
        (names.ERROR, utf8_prefix(rejected.error, 1000)),
        (names.SOURCE_TOPIC, source.topic.encode()),
        (names.SOURCE_PARTITION, str(source.partition).encode()),
        (names.SOURCE_OFFSET, str(source.offset).encode()),
    ]
    if source.timestamp_ms is not None:
        headers.append((names.SOURCE_TIMESTAMP, str(source.timestamp_ms).encode()))
    if connect_connector is not None:
        headers += connect_headers(
            source.topic, source.partition, source.offset, rejected.reason.value, rejected.error, connect_connector
        )
    return headers


def json_schemas() -> dict[str, dict]:
    """The JSON Schemas checked in under schemas/, generated from the models above."""
    return {
        "input.schema.json": InputRecord.model_json_schema(),
        "output.schema.json": OutputRecord.model_json_schema(),
        "dead-letter.schema.json": DeadLetterRecord.model_json_schema(by_alias=True),
        "review-candidate.schema.json": ReviewCandidate.model_json_schema(),
    }
