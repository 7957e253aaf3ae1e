"""The real broker round trip: keyed messages in, consumed back by a group, committed."""

from collections import defaultdict

import pytest
from confluent_kafka import Consumer, Producer
from kafka_helpers import committed_offsets, end_offsets, unique_name

pytestmark = pytest.mark.kafka

MESSAGES = 1000
PARTITIONS = 3


def test_produce_consume_commit_round_trip(kafka_bootstrap, topics):
    topic = topics.create("smoke", partitions=PARTITIONS)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    delivered = []
    for i in range(MESSAGES):
        producer.produce(
            topic,
            key=f"key-{i % 37}",
            value=f"message-{i}",
            on_delivery=lambda err, msg: delivered.append((err, msg.partition())),
        )
    assert producer.flush(30) == 0
    assert len(delivered) == MESSAGES and all(err is None for err, _ in delivered)
    assert len({p for _, p in delivered}) == PARTITIONS

    group = unique_name("smoke-group")
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen = defaultdict(list)
    keys_by_partition = defaultdict(set)
    try:
        while sum(len(v) for v in seen.values()) < MESSAGES:
            msgs = consumer.consume(500, timeout=10)
            assert msgs, "timed out waiting for messages"
            for msg in msgs:
                assert msg.error() is None
                seen[msg.partition()].append(msg.offset())
                keys_by_partition[msg.key()].add(msg.partition())
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()

    values_total = sum(len(v) for v in seen.values())
    assert values_total == MESSAGES
    for offsets in seen.values():
        assert offsets == list(range(len(offsets))), "offsets must arrive in order without gaps"
    assert all(len(parts) == 1 for parts in keys_by_partition.values()), "a key maps to one partition"
    assert committed_offsets(kafka_bootstrap, group, topic) == end_offsets(kafka_bootstrap, topic)
