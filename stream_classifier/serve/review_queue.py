"""The review queue: the stream's least sure records, read from the compacted review topic, and
the operator's answers to them.

A thread reads topics.review from its beginning (with a throw-away group id, committing nothing),
so the queue survives a restart of either process and gathers what every consumer of the group
wrote. An answer (a label, or none to drop the text) appends the text to that label's `examples`
through the label-set registry's update path — validate, encode, write the file, swap — which the
stream follows by watching the same file; then a tombstone removes the candidate from the topic.
"""

from __future__ import annotations

import json
import logging
import threading

from confluent_kafka import OFFSET_BEGINNING, Message, Producer

from stream_classifier.labels import LabelSetError
from stream_classifier.observability import log
from stream_classifier.serve.label_sets import LabelSetRegistry
from stream_classifier.serve.metrics import ServeMetrics
from stream_classifier.serve.topic_reader import TopicReader
from stream_classifier.settings import KafkaSettings, ReviewQueueSettings

logger = logging.getLogger(__name__)


class UnknownCandidate(KeyError):
    pass


class ReviewQueue:
    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        settings: ReviewQueueSettings,
        label_sets: LabelSetRegistry,
        metrics: ServeMetrics,
    ):
        self.kafka = kafka
        self.topic = topic
        self.settings = settings
        self.label_sets = label_sets
        self.metrics = metrics
        self._lock = threading.Lock()
        self._answering = threading.Lock()  # one read-modify-write of a label set at a time
        self.items: dict[str, dict] = {}  # key -> candidate
        self._producer: Producer | None = None
        self.reader = TopicReader(
            kafka, "review queue", [topic], OFFSET_BEGINNING, self._read, missing_hint=": the stream creates it"
        )

    @property
    def connected(self) -> bool:
        return self.reader.connected

    @property
    def error(self) -> str | None:
        return self.reader.error

    def start(self) -> ReviewQueue:
        self.reader.start()
        return self

    def stop(self) -> None:
        self.reader.stop()
        if self._producer is not None:
            self._producer.flush(5)

    # ------------------------------------------------------------------ reader thread
    def _read(self, message: Message) -> None:
        if message.key() is not None:
            self._apply(message.key().decode("utf-8", "replace"), message.value())

    def _apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            with self._lock:
                gone = self.items.pop(key, None)
            if gone is not None:
                self._count(gone["label_set"])
            return
        try:
            candidate = json.loads(value)
            name = str(candidate["label_set"])
            candidate["margin"] = float(candidate["margin"])
            if not isinstance(candidate["text"], str):
                return
        except (ValueError, KeyError, TypeError):
            return  # not one of ours
        with self._lock:
            self.items[key] = {**candidate, "key": key}
            same_set = [k for k, c in self.items.items() if c["label_set"] == name]
            if len(same_set) > self.settings.max_items:
                least_useful = max(same_set, key=lambda k: self.items[k]["margin"])
                del self.items[least_useful]
        self._count(name)

    def _count(self, label_set: str) -> None:
        with self._lock:
            count = sum(1 for c in self.items.values() if c["label_set"] == label_set)
        self.metrics.review_pending.labels(label_set=label_set).set(count)

    # ------------------------------------------------------------------ readers and answers
    def pending(self, label_set: str, limit: int) -> list[dict]:
        with self._lock:
            items = [c for c in self.items.values() if c["label_set"] == label_set]
        return sorted(items, key=lambda c: (c["margin"], c["key"]))[:limit]

    def answer(self, label_set: str, key: str, label: str | None) -> dict:
        """Confirm or correct (label) or drop (None) a candidate; the label set's new version when it changed.

        UnknownCandidate when the key is not queued for that set; LabelSetError naming `label` when
        it is not one of the set's labels.
        """
        with self._lock:
            candidate = self.items.get(key)
        if candidate is None or candidate["label_set"] != label_set:
            raise UnknownCandidate(key)
        with self._answering:
            current = self.label_sets.get(label_set)
            changed = False
            if label is not None:
                if label not in current.names:
                    raise LabelSetError(
                        f"label set {label_set!r}", [("label", f"{label!r} is not one of {current.names}")]
                    )
                data = current.model_dump(mode="json", exclude_defaults=True)
                for entry in data["labels"]:
                    if entry["name"] == label and candidate["text"] not in entry.get("examples", []):
                        entry["examples"] = [*entry.get("examples", []), candidate["text"]]
                current, changed = self.label_sets.replace(label_set, data)
            self._forget(key)
        kind = "dismissed" if label is None else "confirmed" if label == candidate["label"] else "corrected"
        self.metrics.review_answers.labels(label_set=label_set, answer=kind).inc()
        log(logger, logging.INFO, "review answered", label_set=label_set, answer=kind, version=current.version)
        return {"label_set": label_set, "key": key, "answer": kind, "version": current.version, "changed": changed}

    def _forget(self, key: str) -> None:
        """A tombstone: compaction removes the candidate, and every reader (a restart too) drops it."""
        if self._producer is None:
            self._producer = Producer(self.kafka.client_config("producer"))
        self._producer.produce(self.topic, key=key.encode("utf-8"), value=None)
        if self._producer.flush(5):
            log(logger, logging.WARNING, "review tombstone not written: a restarted server lists it again", key=key)
        with self._lock:
            gone = self.items.pop(key, None)
        if gone is not None:
            self._count(gone["label_set"])
