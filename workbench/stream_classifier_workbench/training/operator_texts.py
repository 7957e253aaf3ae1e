"""The operator's own unlabeled texts for `model distill`: a file (text lines, JSON lines, or CSV with
a `text` column) or a Kafka topic read from its beginning without committing anything. Only Chinese
and English texts are kept (the student's vocabulary); every problem is one `DistillInputError`
whose message names it."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

MIN_TEXTS = 1000  # fewer distinct supported texts than this teach a student nothing it keeps
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN = re.compile(r"[A-Za-z]")
LETTER = re.compile(r"[^\W\d_]")


class DistillInputError(ValueError):
    """The operator's texts cannot make a student; the message says why in one line."""


@dataclass(frozen=True)
class OperatorTexts:
    texts: list[str]  # distinct, in the order read
    origin: str  # where they came from, for the manifest
    read: int  # records or lines read
    skipped: dict[str, int]  # why others were left out -> how many


def supported(text: str) -> bool:
    """Mostly Chinese or English letters (a text of digits and signs only is not)."""
    letters = LETTER.findall(text)
    if not letters:
        return False
    ours = sum(1 for ch in letters if HAN.match(ch) or LATIN.match(ch))
    return ours * 2 >= len(letters)


def _file_rows(path: Path) -> list[str]:
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DistillInputError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    lines = content.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise DistillInputError(f"{path}: the file is empty")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(lines)
        if "text" not in (reader.fieldnames or []):
            found = ", ".join(reader.fieldnames or [])
            raise DistillInputError(f"{path}: a CSV file needs a 'text' column (found: {found})")
        return [row.get("text") or "" for row in reader]
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json") or first.lstrip().startswith("{"):
        texts = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DistillInputError(f"{path}:{number}: not a JSON line ({exc})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise DistillInputError(f'{path}:{number}: a JSON line needs a string field "text"')
            texts.append(row["text"])
        return texts
    return lines


def _kept(rows: list[str], origin: str, skipped: dict[str, int] | None = None) -> OperatorTexts:
    skipped = dict(skipped or {})
    seen: set[str] = set()
    texts = []
    for row in rows:
        text = " ".join(row.split())
        if not text:
            skipped["empty"] = skipped.get("empty", 0) + 1
        elif text in seen:
            skipped["repeated"] = skipped.get("repeated", 0) + 1
        elif not supported(text):
            skipped["not Chinese or English"] = skipped.get("not Chinese or English", 0) + 1
        else:
            seen.add(text)
            texts.append(text)
    if rows and not texts and skipped.get("not Chinese or English"):
        raise DistillInputError(f"{origin}: none of its {len(rows)} texts is in Chinese or English")
    return OperatorTexts(texts, origin, len(rows), skipped)


def from_file(path: str | Path, max_texts: int | None = None) -> OperatorTexts:
    path = Path(path)
    if not path.is_file():
        raise DistillInputError(f"{path}: no such file")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    read = _kept(_file_rows(path), str(path))
    texts = read.texts[:max_texts] if max_texts else read.texts
    return OperatorTexts(texts, f"file {path.name} (sha256 {digest})", read.read, read.skipped)


def from_topic(settings, topic: str, max_texts: int, timeout: float = 30.0) -> OperatorTexts:
    """Up to max_texts records from the beginning of every partition, decoded as the stream decodes
    its input (`input.*`), by a consumer of a group of its own that commits nothing."""
    from confluent_kafka import KafkaException

    from stream_classifier.records import Decoded, decode_value
    from stream_classifier.stream.kafka_clients import read_only_consumer
    from stream_classifier.stream.topic_snapshot import TopicReadError, read, snapshot

    consumer = read_only_consumer(
        settings.kafka, f"{settings.kafka.group_id}.distill-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True}
    )
    rows: list[str] = []
    skipped: dict[str, int] = {}
    try:
        snap = snapshot(consumer, topic, timeout=timeout)
        for record in read(consumer, snap, idle_timeout=timeout):
            decoded = decode_value(record.value(), settings.input)
            if isinstance(decoded, Decoded):
                rows.append(decoded.text)
            else:
                skipped[decoded.reason.value] = skipped.get(decoded.reason.value, 0) + 1
            if len(rows) >= max_texts * 2:  # repeats and other languages are dropped below
                break
    except TopicReadError as exc:
        raise DistillInputError(f"topic {topic!r} on {settings.kafka.bootstrap_servers}: {exc.why}") from exc
    except KafkaException as exc:
        raise DistillInputError(f"topic {topic!r} on {settings.kafka.bootstrap_servers}: {exc}") from exc
    finally:
        consumer.close()
    if not rows and not skipped:
        raise DistillInputError(f"topic {topic!r} on {settings.kafka.bootstrap_servers} is empty")
    read_texts = _kept(rows, f"topic {topic!r}", skipped)
    spans = ", ".join(f"{p}:{snap.starts[p]}-{snap.ends[p]}" for p in sorted(snap.ends))
    return OperatorTexts(
        read_texts.texts[:max_texts],
        f"kafka topic {topic} on {settings.kafka.bootstrap_servers} (partition:offsets {spans})",
        read_texts.read + sum(skipped.values()),
        read_texts.skipped,
    )


def enough(texts: OperatorTexts, minimum: int = MIN_TEXTS) -> OperatorTexts:
    if len(texts.texts) < minimum:
        left_out = ", ".join(f"{n} {why}" for why, n in sorted(texts.skipped.items()))
        raise DistillInputError(
            f"{texts.origin}: {len(texts.texts)} distinct Chinese or English texts, at least {minimum} needed"
            + (f" (left out: {left_out})" if left_out else "")
        )
    return texts
