"""The live view: a Kafka consumer inside the server reads the labeled stream and its dead letters.

It reads the output topic (read_committed, so exactly-once output shows only committed records)
and the dead-letter topic, starting `live.history` records before the end of each partition,
with its own throw-away group id and no commits. The page gets snapshots of what it keeps:
the latest records, label counts per time bucket, throughput, dead letters by reason.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time

from confluent_kafka import OFFSET_END, Message

from stream_classifier.dlq import headers as dead_letter
from stream_classifier.serve.topic_reader import TopicReader
from stream_classifier.settings import KafkaSettings, LiveViewSettings, TopicSettings

logger = logging.getLogger(__name__)
OFFSET_TAIL_BASE = -2000  # librdkafka's logical offset "N records before the end" is -2000 - N
THROUGHPUT_WINDOW_S = 10.0


class LiveView:
    def __init__(self, kafka: KafkaSettings, topics: TopicSettings, settings: LiveViewSettings, metrics=None):
        self.kafka = kafka
        self.output_topic = topics.output
        self.dead_letter_topic = topics.dead_letter
        self.settings = settings
        self.metrics = metrics
        self._lock = threading.Lock()
        self._seq = 0
        self.latest: collections.deque[dict] = collections.deque(maxlen=settings.latest)
        self.buckets: dict[int, collections.Counter] = {}
        self.dead_by_reason: collections.Counter = collections.Counter()
        self.outputs = 0
        self.recent_dead: collections.deque[dict] = collections.deque(maxlen=10)
        self.arrivals: collections.deque[float] = collections.deque()  # processed_at of recent outputs
        start = OFFSET_TAIL_BASE - settings.history if settings.history else OFFSET_END
        self.reader = TopicReader(kafka, "live view", [self.output_topic, self.dead_letter_topic], start, self._add)

    def start(self) -> LiveView:
        self.reader.start()
        return self

    def stop(self) -> None:
        self.reader.stop()

    # ------------------------------------------------------------------ reader thread
    def _add(self, message: Message) -> None:
        if message.topic() == self.output_topic:
            self._add_output(message.value())
        else:
            self._add_dead_letter(message)

    def _add_output(self, value: bytes | None) -> None:
        try:
            record = json.loads(value or b"")
            label = str(record["label"])
        except (ValueError, KeyError, TypeError):
            return  # not one of ours
        at_ms = record.get("processed_at_ms") or int(time.time() * 1000)
        bucket_ms = self.settings.bucket_s * 1000
        with self._lock:
            self._seq += 1
            self.outputs += 1
            self.latest.append(
                {
                    "seq": self._seq,
                    "id": record.get("id"),
                    "text": (record.get("text") or "")[:280],
                    "label": label,
                    "score": record.get("score"),
                    "labels": record.get("labels"),
                    "label_sets": record.get("label_sets"),
                    "label_set_version": record.get("label_set_version"),
                    "at_ms": at_ms,
                    "source": record.get("source"),
                }
            )
            start = at_ms - at_ms % bucket_ms
            self.buckets.setdefault(start, collections.Counter())[label] += 1
            while len(self.buckets) > self.settings.buckets:
                del self.buckets[min(self.buckets)]
            self.arrivals.append(at_ms / 1000.0)
            while self.arrivals and self.arrivals[0] < time.time() - THROUGHPUT_WINDOW_S:
                self.arrivals.popleft()
        if self.metrics is not None:
            self.metrics.live_records.labels(kind="output").inc()

    def _add_dead_letter(self, message: Message) -> None:
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in (message.headers() or [])}
        reason = headers.get(dead_letter.REASON, "unknown")
        with self._lock:
            self._seq += 1
            self.dead_by_reason[reason] += 1
            self.recent_dead.append(
                {
                    "seq": self._seq,
                    "reason": reason,
                    "error": headers.get(dead_letter.ERROR, "")[:200],
                    "source_offset": headers.get(dead_letter.SOURCE_OFFSET),
                    "source_partition": headers.get(dead_letter.SOURCE_PARTITION),
                }
            )
        if self.metrics is not None:
            self.metrics.live_records.labels(kind="dead_letter").inc()

    # ------------------------------------------------------------------ readers
    def snapshot(self, since: int = 0) -> dict:
        now = time.time()
        with self._lock:
            while self.arrivals and self.arrivals[0] < now - THROUGHPUT_WINDOW_S:
                self.arrivals.popleft()
            labels = sorted({label for counts in self.buckets.values() for label in counts})
            return {
                "seq": self._seq,
                "connected": self.reader.connected,
                "error": self.reader.error,
                "topics": {"output": self.output_topic, "dead_letter": self.dead_letter_topic},
                "records": [r for r in self.latest if r["seq"] > since],
                "dead_letter_records": [r for r in self.recent_dead if r["seq"] > since],
                "outputs": self.outputs,
                "throughput_per_s": round(len(self.arrivals) / THROUGHPUT_WINDOW_S, 2),
                "bucket_s": self.settings.bucket_s,
                "labels": labels,
                "shares": [{"t_ms": t, "counts": dict(self.buckets[t])} for t in sorted(self.buckets)],
                "dead_letters": dict(self.dead_by_reason),
                "dead_letters_total": sum(self.dead_by_reason.values()),
            }
