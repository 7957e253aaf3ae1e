"""Small stand-ins for the Kafka clients and the engine, so unit tests can drive the loop
(stream_classifier.stream.pipeline.Pipeline) without a broker. They implement only what the loop
calls; the real-broker suites (tests/integration, tests/reliability) stay the final word."""

from __future__ import annotations

import threading
from collections import deque
from types import SimpleNamespace

import numpy as np
from confluent_kafka import TIMESTAMP_CREATE_TIME, KafkaError, KafkaException, TopicPartition

from stream_classifier.model.engines import Classification
from stream_classifier.observability import Health, Metrics
from stream_classifier.settings import load_settings
from stream_classifier.stream.pipeline import Pipeline


class StandInMessage:
    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: bytes | None,
        key: bytes | None = None,
        timestamp_ms: int = 1_700_000_000_000,
        headers=None,
        error: KafkaError | None = None,
    ):
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value, self._key, self._ts, self._headers, self._error = value, key, timestamp_ms, headers, error

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def value(self):
        return self._value

    def key(self):
        return self._key

    def headers(self):
        return self._headers

    def error(self):
        return self._error

    def timestamp(self):
        return TIMESTAMP_CREATE_TIME, self._ts


class StandInConsumer:
    """Hands over the messages of a log per partition from a position that seek() moves. Like
    librdkafka, consume() serves the results of asynchronous commits (on_commit), unless
    `withhold_commit_results` is set (a coordinator that does not answer)."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, int], list[StandInMessage]] = {}
        self.position: dict[tuple[str, int], int] = {}
        self.group_offsets: dict[tuple[str, int], int] = {}
        self.on_commit = None
        self.unanswered: deque = deque()
        self.withhold_commit_results = False
        self.commits: list[tuple[list[tuple[str, int, int]], bool]] = []
        self.seeks: list[tuple[str, int, int]] = []
        self.paused: set[tuple[str, int]] = set()
        self.hold_sync_commit = threading.Event()
        self.callbacks: dict = {}
        self.closed = False

    # what the test sets up
    def add(self, topic: str, partition: int, values: list[bytes | None]) -> None:
        log = self.logs.setdefault((topic, partition), [])
        for value in values:
            log.append(StandInMessage(topic, partition, len(log), value, key=f"k{len(log)}".encode()))

    def assign(self, partitions: list[tuple[str, int]]) -> None:
        for tp in partitions:
            self.position.setdefault(tp, self.group_offsets.get(tp, 0))
        self.callbacks["on_assign"](self, [TopicPartition(t, p) for t, p in partitions])

    def revoke(self, partitions: list[tuple[str, int]], lost: bool = False) -> None:
        self.callbacks["on_lost" if lost else "on_revoke"](self, [TopicPartition(t, p) for t, p in partitions])
        for tp in partitions:
            self.position.pop(tp, None)

    # what the loop calls
    def subscribe(self, topics, on_assign, on_revoke, on_lost) -> None:
        self.callbacks = {"on_assign": on_assign, "on_revoke": on_revoke, "on_lost": on_lost}

    def poll(self, timeout=None):
        return None

    def list_topics(self, timeout=None):
        return SimpleNamespace(topics={t: None for t, _ in self.logs})

    def consume(self, num_messages=1, timeout=None):
        while self.unanswered and not self.withhold_commit_results:
            offsets = self.unanswered.popleft()
            for t in offsets:
                self.group_offsets[(t.topic, t.partition)] = t.offset
            self.on_commit(None, offsets)
        out = []
        for tp in sorted(self.position):
            if tp in self.paused:
                continue
            log = self.logs.get(tp, [])
            while self.position[tp] < len(log) and len(out) < num_messages:
                out.append(log[self.position[tp]])
                self.position[tp] += 1
        return out

    def commit(self, offsets, asynchronous):
        self.commits.append(([(t.topic, t.partition, t.offset) for t in offsets], asynchronous))
        if asynchronous:
            self.unanswered.append([TopicPartition(t.topic, t.partition, t.offset) for t in offsets])
            return None
        if self.hold_sync_commit.is_set():
            threading.Event().wait(5)
        for t in offsets:
            self.group_offsets[(t.topic, t.partition)] = t.offset
        return [TopicPartition(t.topic, t.partition, t.offset) for t in offsets]

    def committed(self, partitions, timeout=None):
        return [
            TopicPartition(p.topic, p.partition, self.group_offsets.get((p.topic, p.partition), -1001))
            for p in partitions
        ]

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))
        self.position[(tp.topic, tp.partition)] = max(tp.offset, 0)

    def pause(self, partitions) -> None:
        self.paused |= {(p.topic, p.partition) for p in partitions}

    def resume(self, partitions) -> None:
        self.paused -= {(p.topic, p.partition) for p in partitions}

    def consumer_group_metadata(self):
        return "group-metadata"

    def close(self) -> None:
        self.closed = True


class StandInProducer:
    """Keeps produced records; delivery reports are served by poll()/flush(), failing for the
    (source topic, partition, offset) keys in `fail`. Transactions: a call named in `errors`
    raises that KafkaError once."""

    def __init__(self) -> None:
        self.produced: list[dict] = []
        self.pending: deque = deque()
        self.fail: set[bytes] = set()
        self.errors: dict[str, KafkaError] = {}
        self.calls: list[str] = []
        self.transaction: list[dict] | None = None
        self.committed_transactions: list[tuple[list[dict], list[tuple[str, int, int]]]] = []
        self.offsets_in_transaction: list[tuple[str, int, int]] = []

    def produce(self, topic, key=None, value=None, headers=None, on_delivery=None):
        record = {"topic": topic, "key": key, "value": value, "headers": headers}
        if self.transaction is not None:
            self.transaction.append(record)
        else:
            self.pending.append((record, on_delivery))

    def poll(self, timeout=None) -> int:
        served = 0
        while self.pending:
            record, on_delivery = self.pending.popleft()
            err = KafkaError(KafkaError._MSG_TIMED_OUT) if record["key"] in self.fail else None
            if err is None:
                self.produced.append(record)
            if on_delivery is not None:
                on_delivery(err, None)
            served += 1
        return served

    def flush(self, timeout=None) -> int:
        self.poll(0)
        return 0

    def _call(self, name: str) -> None:
        self.calls.append(name)
        err = self.errors.pop(name, None)
        if err is not None:
            raise KafkaException(err)

    def init_transactions(self, timeout=None) -> None:
        self._call("init_transactions")

    def begin_transaction(self) -> None:
        self._call("begin_transaction")
        self.transaction, self.offsets_in_transaction = [], []

    def send_offsets_to_transaction(self, offsets, metadata, timeout=None) -> None:
        self._call("send_offsets_to_transaction")
        self.offsets_in_transaction = [(t.topic, t.partition, t.offset) for t in offsets]

    def commit_transaction(self, timeout=None) -> None:
        self._call("commit_transaction")
        self.committed_transactions.append((self.transaction, self.offsets_in_transaction))
        self.produced.extend(self.transaction)
        self.transaction = None

    def abort_transaction(self, timeout=None) -> None:
        self._call("abort_transaction")
        self.transaction = None

    def purge(self) -> None:
        self.calls.append("purge")
        self.transaction = None


class StandInClients:
    """The ClientFactory of the loop: one consumer, and a new producer per call."""

    def __init__(self, consumer: StandInConsumer | None = None) -> None:
        self.the_consumer = consumer or StandInConsumer()
        self.producers: list[StandInProducer] = []
        self.next_producer_errors: dict[str, KafkaError] = {}

    def consumer(self, on_error, on_commit):
        self.the_consumer.on_commit = on_commit
        return self.the_consumer

    def producer(self, on_error):
        producer = StandInProducer()
        producer.errors.update(self.next_producer_errors)
        self.producers.append(producer)
        return producer


class StandInEngine:
    """Labels every text "positive", except that a text containing "boom" fails its inference."""

    model = SimpleNamespace(max_length=512)
    model_id = "stand-in"

    def prepare(self, label_set) -> None:
        pass

    def classify(self, texts, label_set):
        if any("boom" in t for t in texts):
            raise RuntimeError("inference failed on purpose")
        scores = np.tile(np.linspace(1.0, 0.0, len(label_set.names)), (len(texts), 1))
        return Classification(label_set, scores / scores.sum(axis=1, keepdims=True), self.model_id, label_set.version)

    def classify_many(self, texts, label_sets):
        return [self.classify(texts, label_set) for label_set in label_sets]


def make_pipeline(mode: str = "at_least_once", hook=None, **overrides) -> tuple[Pipeline, StandInClients]:
    delivery = {
        "mode": mode,
        "commit_stall_timeout_s": 60,
        "flush_timeout_s": 0.2,
        "commit_interval_s": 0.001,
        **overrides.pop("delivery", {}),
    }
    kafka = {"group_instance_id": "unit"} if mode == "exactly_once" else {}
    # the guard holds back the offsets of its window (released after 2 s idle): on only where a test asks
    overrides["dead_letter_guard"] = {"enabled": False, **overrides.get("dead_letter_guard", {})}
    settings = load_settings(
        "configs/default.yaml",
        labels={"file": "configs/labels/sentiment.yaml"},
        delivery=delivery,
        kafka=kafka,
        topics={"input": "in", "output": "out", "dead_letter": "dlq"},
        batch={"max_size": 4, "max_wait_ms": 0, **overrides.pop("batch", {})},
        **overrides,
    )
    clients = StandInClients()
    pipeline = Pipeline(settings, StandInEngine(), Metrics(), clients, Health(), in_transaction_hook=hook)
    return pipeline, clients
