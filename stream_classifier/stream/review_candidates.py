"""Review candidates: per label-set version, the records the stream was least sure of, written to
the compacted review topic for the page's review queue.

Each consumer keeps the `review.size` smallest margins it has seen per version and writes a record
when it enters them, so a consumer writes about size·ln(records) candidates per version, not one per
record; the topic's key (label set and text) deduplicates what several consumers, restarts and
repeats write. This is a side channel: a candidate lost to a broker error costs a question for the
operator, never an output record, so it is written outside the delivery mode's transaction.
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from collections import OrderedDict

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from stream_classifier.labels import LabelSet
from stream_classifier.observability import Metrics, log
from stream_classifier.records import SourcePosition, review_key
from stream_classifier.settings import Settings

logger = logging.getLogger(__name__)
VERSIONS_KEPT = 4
# one entry per label set and text; a candidate nobody answered within a week is dropped
TOPIC_CONFIG = {"cleanup.policy": "compact,delete", "retention.ms": str(7 * 24 * 3600 * 1000)}


def margin_of(scores: dict[str, float]) -> float:
    top = sorted(scores.values(), reverse=True)
    return top[0] - top[1] if len(top) > 1 else 1.0


class LeastSure:
    """The `size` smallest margins seen per label-set version; admits a record that enters them."""

    def __init__(self, size: int, max_margin: float):
        self.size = size
        self.max_margin = max_margin
        self._kept: OrderedDict[str, list[float]] = OrderedDict()  # version -> max-heap of margins (negated)

    def admit(self, version: str, margin: float, abstained: bool) -> bool:
        if not abstained and margin >= self.max_margin:
            return False
        heap = self._kept.get(version)
        if heap is None:
            heap = self._kept[version] = []
            while len(self._kept) > VERSIONS_KEPT:
                self._kept.popitem(last=False)
        if len(heap) < self.size:
            heapq.heappush(heap, -margin)
            return True
        if margin < -heap[0]:
            heapq.heapreplace(heap, -margin)
            return True
        return False


class ReviewWriter:
    """Writes admitted records to topics.review with its own plain producer."""

    def __init__(self, settings: Settings, metrics: Metrics, producer: Producer | None = None):
        self.topic = settings.topics.review_topic
        self.metrics = metrics
        self.selection = LeastSure(settings.review.size, settings.review.max_margin)
        self._examples_by_version: OrderedDict[str, frozenset[str]] = OrderedDict()
        self.producer = producer or Producer(
            {
                **settings.kafka.client_config("producer"),
                "linger.ms": 50,
                "compression.type": "lz4",
                "logger": logging.getLogger("stream_classifier.librdkafka"),
            }
        )

    @classmethod
    def start(cls, settings: Settings, metrics: Metrics) -> ReviewWriter | None:
        """A writer when review is on and its topic exists or could be created; None (logged) otherwise."""
        if not settings.review.enabled:
            return None
        topic = settings.topics.review_topic
        try:
            _ensure_compacted_topic(settings, topic)
        except KafkaException as exc:
            log(
                logger,
                logging.WARNING,
                "review topic missing and not created: no review candidates",
                topic=topic,
                error=str(exc),
            )
            return None
        return cls(settings, metrics)

    def offer(self, label_set: LabelSet, text: str, result: dict, source: SourcePosition) -> None:
        if label_set.multi_label:
            return  # no margin between labels: each one has its own threshold
        if text in self._examples(label_set, result["label_set_version"]):
            return  # answered already: the operator made it an example
        scores = result["scores"]
        margin = margin_of(scores)
        abstained = label_set.abstain is not None and result["label"] == label_set.abstain.label
        if not self.selection.admit(result["label_set_version"], margin, abstained):
            return
        value = {
            "label_set": label_set.name,
            "label_set_version": result["label_set_version"],
            "text": text,
            "label": result["label"],
            "scores": scores,
            "margin": round(margin, 6),
            "abstained": abstained,
            "source": {
                "topic": source.topic,
                "partition": source.partition,
                "offset": source.offset,
                "timestamp_ms": source.timestamp_ms,
            },
            "queued_at_ms": int(time.time() * 1000),
        }
        try:
            self.producer.produce(
                self.topic,
                key=review_key(label_set.name, text),
                value=json.dumps(value, ensure_ascii=False).encode("utf-8", "backslashreplace"),
                on_delivery=self._delivered,
            )
        except (BufferError, KafkaException) as exc:
            self.metrics.review_candidates.labels(result="failed").inc()
            log(logger, logging.WARNING, "review candidate not queued", error=str(exc))

    def _examples(self, label_set: LabelSet, version: str) -> frozenset[str]:
        examples = self._examples_by_version.get(version)
        if examples is None:
            examples = frozenset(t for lbl in label_set.labels for t in lbl.examples)
            self._examples_by_version[version] = examples
            while len(self._examples_by_version) > VERSIONS_KEPT * 16:
                self._examples_by_version.popitem(last=False)
        return examples

    def _delivered(self, err: KafkaError | None, _message) -> None:
        self.metrics.review_candidates.labels(result="failed" if err else "written").inc()

    def serve(self) -> None:
        self.producer.poll(0)

    def close(self, timeout_s: float) -> None:
        left = self.producer.flush(timeout_s)
        if left:
            log(logger, logging.WARNING, "review candidates not written at stop", count=left)


def _ensure_compacted_topic(settings: Settings, topic: str) -> None:
    admin = AdminClient(settings.kafka.client_config("admin"))
    metadata = admin.list_topics(timeout=settings.kafka.connect_timeout_s)
    if topic in metadata.topics and metadata.topics[topic].error is None:
        return
    source = metadata.topics.get(settings.topics.input)
    partitions = max(len(source.partitions), 1) if source is not None else 1
    replication = min(3, len(metadata.brokers))
    future = admin.create_topics([NewTopic(topic, partitions, replication, config=TOPIC_CONFIG)])[topic]
    try:
        future.result(timeout=settings.kafka.connect_timeout_s)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    log(logger, logging.INFO, "review topic created", topic=topic, partitions=partitions, **TOPIC_CONFIG)
