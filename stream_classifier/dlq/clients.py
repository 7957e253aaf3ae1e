"""Kafka clients for the dlq commands, configured from the classifier's own settings."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer

from stream_classifier.settings import Settings
from stream_classifier.stream.kafka_clients import read_only_consumer


def reader(settings: Settings, group_id: str | None = None) -> Consumer:
    """A consumer that only reads what it is assigned; group_id: where a replay keeps its cursor."""
    return read_only_consumer(
        settings.kafka,
        group_id or f"{settings.kafka.group_id}.dlq-reader-{uuid.uuid4().hex[:8]}",
        **{"enable.partition.eof": True},
    )


def writer(settings: Settings) -> Producer:
    return Producer(
        {**settings.kafka.client_config("producer"), "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )
