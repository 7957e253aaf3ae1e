"""The page's topic reader against the real broker: it says which topic is missing, waits for it,
then reads every partition of every topic from its start offset; an unreachable broker is said too."""

from __future__ import annotations

import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Producer
from kafka_helpers import free_ports, new_topic, unique_name

from stream_classifier.serve.topic_reader import TopicReader
from stream_classifier.settings import KafkaSettings


def _wait_for(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_it_waits_for_a_missing_topic_then_reads_every_partition_of_both(kafka_bootstrap, topics):
    present = topics.create("reader-present", partitions=2)
    missing = unique_name("reader-later")
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(4):
        producer.produce(present, key=f"p{i}".encode(), value=b"x", partition=i % 2)
    producer.flush(10)

    seen, lock = [], threading.Lock()

    def handle(message):
        with lock:
            seen.append((message.topic(), message.key().decode()))

    reader = TopicReader(
        KafkaSettings(bootstrap_servers=kafka_bootstrap),
        "test reader",
        [present, missing],
        OFFSET_BEGINNING,
        handle,
        missing_hint=": it comes later",
    )
    reader.start()
    try:
        assert _wait_for(lambda: reader.error is not None)
        assert reader.error == f"topic {missing} not found (yet): it comes later"
        assert not reader.connected and seen == []

        topics.admin.create_topics([new_topic(missing, 1, 1)], operation_timeout=30)[missing].result(timeout=60)
        topics.created.append(missing)
        producer.produce(missing, key=b"m0", value=b"y")
        producer.flush(10)

        assert _wait_for(lambda: len(seen) == 5), seen
        assert reader.connected and reader.error is None
        assert sorted(seen) == sorted([(present, f"p{i}") for i in range(4)] + [(missing, "m0")])
    finally:
        reader.stop()


def test_an_unreachable_broker_is_said_and_stop_returns():
    (closed_port,) = free_ports(1)
    reader = TopicReader(
        KafkaSettings(bootstrap_servers=f"127.0.0.1:{closed_port}"), "test reader", ["t"], OFFSET_BEGINNING, print
    )
    reader.start()
    try:
        assert _wait_for(lambda: reader.error is not None)
        assert reader.error.startswith("cannot reach Kafka: "), reader.error
        assert not reader.connected
    finally:
        reader.stop()
    assert not reader._thread.is_alive()
