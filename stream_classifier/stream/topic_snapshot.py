"""Read a topic from given offsets up to its end as it was when reading began: the dead-letter tools
(inspect, replay) and `model distill --topic`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition


class TopicReadError(RuntimeError):
    def __init__(self, topic: str, why: str):
        super().__init__(f"topic {topic!r}: {why}")
        self.why = why


@dataclass
class Snapshot:
    topic: str
    starts: dict[int, int]  # per partition, the first offset read
    ends: dict[int, int]  # per partition, the end offset when reading began (not read past)


def partitions_of(consumer: Consumer, topic: str, timeout: float) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=timeout)
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        why = described.error.str() if described is not None and described.error else "not found"
        raise TopicReadError(topic, why)
    return sorted(described.partitions)


def snapshot(consumer: Consumer, topic: str, start: dict[int, int] | None = None, timeout: float = 30.0) -> Snapshot:
    """start: per partition, where to begin (missing or below the log start: the log start)."""
    starts, ends = {}, {}
    for partition in partitions_of(consumer, topic, timeout):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
        wanted = (start or {}).get(partition)
        starts[partition] = low if wanted is None or wanted < 0 else max(low, wanted)
        ends[partition] = high
    return Snapshot(topic, starts, ends)


def read(consumer: Consumer, snap: Snapshot, idle_timeout: float = 30.0) -> Iterator[Message]:
    """Every record in [start, end) of each partition; records written meanwhile are left for later,
    so a dead-letter replay never reads the dead letters it causes. The consumer reads read_committed, so the
    aborted dead letters of exactly-once transactions are not read."""
    pending = {p for p in snap.ends if snap.starts[p] < snap.ends[p]}
    if not pending:
        return
    consumer.assign(
        [
            TopicPartition(snap.topic, p, snap.starts[p] if snap.starts[p] > 0 else OFFSET_BEGINNING)
            for p in sorted(pending)
        ]
    )
    last_progress = time.monotonic()
    while pending:
        messages = consumer.consume(500, timeout=0.5)
        for message in messages:
            err = message.error()
            partition = message.partition()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(partition)
                    continue
                raise KafkaException(err)
            if partition not in pending or message.offset() >= snap.ends[partition]:
                continue
            yield message
            if message.offset() + 1 >= snap.ends[partition]:
                pending.discard(partition)
        if messages:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > idle_timeout:
            raise TopicReadError(
                snap.topic,
                f"no record for {idle_timeout:.0f}s before the end offsets {snap.ends} (an open transaction?)",
            )
        # control records (transaction markers) take offsets too: the position tells when they are passed
        for tp in consumer.position([TopicPartition(snap.topic, p) for p in list(pending)]):
            if tp.offset >= 0 and tp.offset >= snap.ends[tp.partition]:
                pending.discard(tp.partition)
