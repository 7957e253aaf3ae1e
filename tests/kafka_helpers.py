"""Helpers for tests that talk to the real broker."""

from __future__ import annotations

import random
import socket
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port_run(length: int) -> int:
    """A base port with `length` free ports after it, below the ephemeral range (32768-60999)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000, 2)
        try:
            for port in range(base, base + length):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no run of free ports")


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_topic(
    name: str,
    partitions: int,
    replication: int,
    config: dict[str, str] | None = None,
    placement: list[int] | None = None,
) -> NewTopic:
    """placement: the broker ids that hold every partition's replicas, leaders taking turns."""
    if not placement:
        return NewTopic(name, partitions, replication, config=config or {})
    assignment = [placement[i % len(placement) :] + placement[: i % len(placement)] for i in range(partitions)]
    return NewTopic(name, num_partitions=partitions, replica_assignment=assignment, config=config or {})


@dataclass
class Topics:
    """Creates uniquely named topics on the broker and deletes them afterwards."""

    bootstrap: str
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap})

    def create(
        self,
        prefix: str = "t",
        partitions: int = 1,
        replication: int = 1,
        config: dict[str, str] | None = None,
        placement: list[int] | None = None,
    ) -> str:
        """placement: the broker ids that hold every partition's replicas (replication = their number)."""
        name = unique_name(prefix)
        futures = self.admin.create_topics(
            [new_topic(name, partitions, replication, config, placement)], operation_timeout=30
        )
        futures[name].result(timeout=60)
        self.created.append(name)
        return name

    def delete_all(self) -> None:
        if self.created:
            futures = self.admin.delete_topics(self.created, operation_timeout=30)
            for fut in futures.values():
                try:
                    fut.result(timeout=30)
                except Exception:
                    pass
            self.created.clear()


def end_offsets(bootstrap: str, topic: str, consumer: Consumer | None = None) -> dict[int, int]:
    """Per partition, the offset after the last record; with `consumer`, through that client."""
    if consumer is None:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("probe")})
        try:
            return end_offsets(bootstrap, topic, consumer)
        finally:
            consumer.close()
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        md = consumer.list_topics(topic, timeout=10)
        tps = [TopicPartition(topic, p) for p in md.topics[topic].partitions]
        return {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
    finally:
        consumer.close()
