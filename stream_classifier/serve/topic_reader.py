"""A thread inside the server that reads Kafka topics for the page (the live view, the review queue).

It reads every partition of its topics from one start offset, with a throw-away group id and no
commits, waits (and says so) until the topics exist and the broker answers, and hands each message
to one function. `connected` and `error` are what the page shows; whatever happens here, the API
keeps serving.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from confluent_kafka import KafkaException, Message, TopicPartition

from stream_classifier.observability import log
from stream_classifier.settings import KafkaSettings
from stream_classifier.stream.kafka_clients import read_only_consumer

logger = logging.getLogger(__name__)
RETRY_S = 2.0


class TopicReader:
    def __init__(
        self,
        kafka: KafkaSettings,
        name: str,
        topics: list[str],
        start_offset: int,
        handle: Callable[[Message], None],
        missing_hint: str = "",
    ):
        self.kafka = kafka
        self.name = name  # "live view": in the page's error line and the logs
        self.topics = topics
        self.start_offset = start_offset
        self.handle = handle
        self.missing_hint = missing_hint
        self.connected = False
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name.replace(" ", "-"), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _assignment(self, metadata) -> list[TopicPartition]:
        """Every partition of every topic, or none (with the error said) while one is missing."""
        assignment = []
        for topic in self.topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None or not info.partitions:
                self.error = f"topic {topic} not found (yet){self.missing_hint}"
                return []
            assignment += [TopicPartition(topic, p, self.start_offset) for p in sorted(info.partitions)]
        return assignment

    def _run(self) -> None:
        consumer = None
        try:
            consumer = read_only_consumer(self.kafka, f"sc-serve-{self._thread.name}-{uuid.uuid4().hex[:8]}")
            while not self._stop.is_set():
                try:
                    assignment = self._assignment(consumer.list_topics(timeout=5))
                    if assignment:
                        consumer.assign(assignment)
                        break
                except KafkaException as exc:
                    self.error = f"cannot reach Kafka: {exc}"
                self._stop.wait(RETRY_S)
            else:
                return
            self.connected, self.error = True, None
            log(logger, logging.INFO, f"{self.name} reading", topics=",".join(self.topics))
            while not self._stop.is_set():
                for message in consumer.consume(500, timeout=0.5):
                    if message.error() is None:
                        self.handle(message)
        except Exception as exc:  # noqa: BLE001 - the page says so; the API keeps serving
            self.error = f"{self.name} stopped: {exc!r}"
            self.connected = False
            log(logger, logging.ERROR, f"{self.name} stopped", error=repr(exc))
        finally:
            if consumer is not None:
                consumer.close()
