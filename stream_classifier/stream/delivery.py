"""What the loop hands a processed batch to: a delivery mode. Two of them, behind this interface:

- at_least_once.AtLeastOnce: every record is produced on its own; an input's offset becomes
  committable once all its records are acknowledged; commits are offset commits.
- exactly_once.ExactlyOnce: one transaction per batch holds its records and its offsets; a
  commit is the transaction's commit; any error aborts it and rewinds to the committed offsets.

Both share the loop's bookkeeping (LoopState) and the per-record step (dead-letter guard, then
produce).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, Producer, TopicPartition

from stream_classifier.observability import Health, Metrics, log
from stream_classifier.records import Rejected, SourcePosition, dead_letter_headers
from stream_classifier.settings import Settings
from stream_classifier.stream.batcher import Batcher
from stream_classifier.stream.commit_watchdog import CommitWatchdog, Stall
from stream_classifier.stream.offsets import DeadLetterGuard, OffsetTracker
from stream_classifier.stream.stops import CommitStalled, GuardTripped

logger = logging.getLogger(__name__)

TopicPartitionKey = tuple[str, int]


@dataclass(slots=True)
class Outcome:
    """What one input became: an output record, or a dead letter."""

    message: Message
    value: bytes | None = None
    rejected: Rejected | None = None


def partition_of(message: Message) -> TopicPartitionKey:
    return message.topic(), message.partition()


def source_of(message: Message) -> SourcePosition:
    ts_type, ts = message.timestamp()
    return SourcePosition.model_construct(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        timestamp_ms=ts if ts_type else None,
    )


@dataclass
class LoopState:
    """The loop's bookkeeping that a delivery mode reads and updates."""

    settings: Settings
    metrics: Metrics
    health: Health
    tracker: OffsetTracker
    guard: DeadLetterGuard
    watchdog: CommitWatchdog
    batcher: Batcher
    assignment: set[TopicPartitionKey] = field(default_factory=set)
    last_committed: dict[TopicPartitionKey, int] = field(default_factory=dict)
    fatal_error: KafkaError | None = None

    def committed(self, tp: TopicPartitionKey, offset: int) -> None:
        """The broker confirmed `offset` for tp."""
        self.last_committed[tp] = offset
        self.metrics.offset_committed.labels(topic=tp[0], partition=str(tp[1])).set(offset)

    def committable(self, tp: TopicPartitionKey, offset: int) -> None:
        self.metrics.offset_committable.labels(topic=tp[0], partition=str(tp[1])).set(offset)


class DeliveryMode(ABC):
    """What happens to a processed batch, what a commit means, what a revoke must finish."""

    def __init__(self, state: LoopState):
        self.state = state
        self.settings = state.settings
        self.metrics = state.metrics
        self.topics = state.settings.topics
        self.consumer = None
        self.producer: Producer | None = None

    # -- life cycle
    @abstractmethod
    def start(self, consumer, clients) -> None:
        """Take the consumer, make the producer; raises StartupError."""

    def on_client_error(self, err: KafkaError) -> None:
        log(
            logger,
            logging.ERROR if err.fatal() else logging.WARNING,
            "kafka client error",
            code=err.name(),
            error=err.str(),
            fatal=err.fatal(),
        )
        if err.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED) or err.fatal():
            self.state.fatal_error = err

    def on_commit_result(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's on_commit callback (asynchronous offset commits only)."""

    # -- a processed batch
    @abstractmethod
    def deliver(self, outcomes: list[Outcome]) -> None:
        """Hand the batch's records over; raises GuardTripped."""

    def serve(self) -> None:
        """Between batches: serve delivery reports."""
        assert self.producer is not None
        self.producer.poll(0)

    # -- commits
    @abstractmethod
    def commit(self, trigger: str, wait: bool, only: set[TopicPartitionKey] | None = None) -> None:
        """Commit what may be committed (trigger: periodic, revoke, shutdown)."""

    @abstractmethod
    def watch_commits(self, now: float) -> None:
        """Report to the commit watchdog; raises CommitStalled."""

    # -- rebalance and stop
    @abstractmethod
    def finish_revoke(self, revoked: set[TopicPartitionKey], commit: bool) -> None:
        """Before revoked partitions go to another member."""

    def before_stop(self) -> None:
        """Stopping: give up work that cannot be finished (an open transaction)."""

    @abstractmethod
    def final_commit(self) -> None:
        """Stopping, after the last batch was delivered: commit what may be committed."""

    def flush(self) -> None:
        assert self.producer is not None
        remaining = self.producer.flush(self.settings.delivery.flush_timeout_s)
        if remaining:
            log(logger, logging.WARNING, "producer flush timed out", undelivered=remaining)

    # -- shared by both modes
    def _stalled(self, stalls: list[Stall], also: str | None = None) -> None:
        self.metrics.commit_stalls.labels(outcome="exit").inc(max(len(stalls), 1))
        self.state.health.commit_stalled = True
        raise CommitStalled("; ".join([s.describe() for s in stalls] + ([also] if also else [])))

    def _report_stalls(self, stalls: list[Stall]) -> None:
        log(
            logger,
            logging.WARNING,
            "commit watchdog: committable offsets have not been committed",
            timeout_s=self.settings.delivery.commit_stall_timeout_s,
            partitions=[s.describe() for s in stalls],
        )

    def _produce(self, outcome: Outcome, on_delivery=None) -> None:
        """The guard sees the record, then it is produced: to the output topic, or unchanged with
        the sc.* headers to the dead-letter topic. The guard is checked per record, so the window
        that trips is exactly the last `window` records."""
        message = outcome.message
        tp = partition_of(message)
        dead = outcome.rejected is not None
        if dead:
            assert outcome.rejected is not None
            topic, value = self.topics.dead_letter, message.value()
            connector = self.settings.kafka.group_id if self.topics.dead_letter_connect_headers else None
            headers = dead_letter_headers(outcome.rejected, source_of(message), message.headers(), connector)
        else:
            topic, value, headers = self.topics.output, outcome.value, None
        guard = self.state.guard
        guard.observe(tp, message.offset(), dead, time.monotonic())
        if guard.tripped():
            raise GuardTripped(
                f"dead-letter share {guard.ratio():.2f} over the last "
                f"{len(guard.recent)} records exceeds {guard.max_ratio}"
            )
        assert self.producer is not None
        while True:
            try:
                self.producer.produce(topic, key=message.key(), value=value, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:
                # the producer queue is full: serve delivery reports until there is room
                self.producer.poll(0.05)
