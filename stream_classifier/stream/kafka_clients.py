"""Kafka client construction from the settings: the consumer, the (transactional) producer, and
the start-up check that the cluster answers. The loop gets its clients from here, and tests
hand it stand-ins with the same two methods."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from stream_classifier.observability import Metrics, log
from stream_classifier.settings import KafkaSettings, Settings
from stream_classifier.stream.stops import StartupError

logger = logging.getLogger(__name__)

ErrorCallback = Callable[[KafkaError], None]
CommitCallback = Callable[[KafkaError | None, list], None]


class ClientFactory(Protocol):
    def consumer(self, on_error: ErrorCallback, on_commit: CommitCallback) -> Consumer: ...

    def producer(self, on_error: ErrorCallback) -> Producer: ...


def is_fatal(err: KafkaError) -> bool:
    # a fenced static member (another process took its group.instance.id) surfaces as _FATAL
    return err.fatal() or err.code() in (KafkaError._FATAL, KafkaError.FENCED_INSTANCE_ID)


def read_only_consumer(kafka: KafkaSettings, group_id: str, **extra) -> Consumer:
    """A consumer that reads what it is assigned, committed records only, and never commits on its
    own (the dlq tools, the live view)."""
    return Consumer(
        {
            **kafka.client_config("consumer"),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            **extra,
        }
    )


def transactional_id(settings: Settings) -> str:
    return f"{settings.kafka.group_id}.{settings.kafka.group_instance_id}"


class KafkaClients:
    """The real clients: confluent-kafka's Consumer and Producer configured from the settings."""

    def __init__(self, settings: Settings, metrics: Metrics):
        self.settings = settings
        self.metrics = metrics
        self.exactly_once = settings.delivery.mode == "exactly_once"

    def consumer(self, on_error: ErrorCallback, on_commit: CommitCallback) -> Consumer:
        k = self.settings.kafka
        config = {
            # prefetch a few batches, not librdkafka's default 64 MB / 100,000 messages: this
            # consumer is CPU-bound, and a backlog would otherwise sit in memory (overridable)
            "queued.max.messages.kbytes": 4096,
            "queued.min.messages": 2000,
            **k.client_config("consumer"),
            "group.id": k.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": k.session_timeout_ms,
            "error_cb": on_error,
            "on_commit": on_commit,
            "logger": logging.getLogger("stream_classifier.librdkafka"),
        }
        if k.group_instance_id:
            config["group.instance.id"] = k.group_instance_id
        if self.exactly_once:
            # inputs written by transactional producers are read only once committed
            config["isolation.level"] = "read_committed"
        if self.settings.metrics.statistics_interval_ms:
            config["statistics.interval.ms"] = self.settings.metrics.statistics_interval_ms
            config["stats_cb"] = self.metrics.update_from_statistics
        return Consumer(config)

    def producer(self, on_error: ErrorCallback) -> Producer:
        config = {
            **self.settings.kafka.client_config("producer"),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "error_cb": on_error,
            "logger": logging.getLogger("stream_classifier.librdkafka"),
        }
        if self.exactly_once:
            config["transactional.id"] = transactional_id(self.settings)
            config["transaction.timeout.ms"] = self.settings.delivery.transaction_timeout_ms
        return Producer(config)


def check_connectivity(consumer: Consumer, settings: Settings, fatal_error: Callable[[], KafkaError | None]) -> None:
    """Fail fast with a clear error when the cluster cannot be reached or refuses us."""
    timeout = settings.kafka.connect_timeout_s
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        # error and log callbacks (an authentication failure among them) are served by poll
        # only; nothing is subscribed yet, so this poll consumes nothing
        consumer.poll(0)
        err = fatal_error()
        if err is not None:
            raise StartupError(f"kafka: {err.str()}")
        try:
            md = consumer.list_topics(timeout=1.0)
        except KafkaException as exc:
            last = exc
            time.sleep(0.2)
            continue
        if settings.topics.input not in md.topics:
            log(
                logger,
                logging.WARNING,
                "the input topic does not exist yet; waiting for it",
                topic=settings.topics.input,
            )
        return
    raise StartupError(
        f"cannot reach the Kafka cluster at {settings.kafka.bootstrap_servers} within {timeout:.0f}s: {last}"
    )
