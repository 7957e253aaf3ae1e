"""Exactly-once delivery: one Kafka transaction per micro-batch: begin -> produce outputs and
dead letters -> send the batch's next offsets with the consumer's group metadata -> commit. The
transaction's commit is the offset commit and the acknowledgement. Any error aborts the
transaction and rewinds the assigned partitions to their committed offsets; a fenced or otherwise
broken producer is replaced (its successor's init fences it) and the loop goes on from there."""

from __future__ import annotations

import logging
import time
from collections import Counter, deque

from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, KafkaError, KafkaException, TopicPartition

from stream_classifier.observability import log
from stream_classifier.stream.deadline import call_with_deadline
from stream_classifier.stream.delivery import DeliveryMode, LoopState, Outcome, TopicPartitionKey, partition_of
from stream_classifier.stream.fault_injection import TransactionHook
from stream_classifier.stream.kafka_clients import transactional_id
from stream_classifier.stream.stops import GuardTripped, StartupError

logger = logging.getLogger(__name__)

PRODUCER_FENCED_CODES = (
    KafkaError._FENCED,
    KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH,
    KafkaError.INVALID_PRODUCER_ID_MAPPING,
)
MAX_PRODUCER_RESTARTS_PER_MINUTE = 5


class ExactlyOnce(DeliveryMode):
    def __init__(self, state: LoopState, in_transaction_hook: TransactionHook | None = None):
        super().__init__(state)
        self.in_transaction_hook = in_transaction_hook
        self.clients = None
        self.in_transaction = False
        self.transactions_begun = 0
        self.producer_restarts: deque[float] = deque()
        self.transactional_id = transactional_id(state.settings)

    def start(self, consumer, clients) -> None:
        self.consumer = consumer
        self.clients = clients
        self.producer = clients.producer(self.on_producer_error)
        self._init_transactions()

    def on_producer_error(self, err: KafkaError) -> None:
        """A fatal error of the transactional producer fails its next call, and that path replaces
        the producer; only authentication errors end the process."""
        log(
            logger, logging.WARNING, "transactional producer error", code=err.name(), error=err.str(), fatal=err.fatal()
        )
        if err.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
            self.state.fatal_error = err

    def _init_transactions(self) -> None:
        """Register the transactional id; fences any older producer with the same id and aborts its
        open transaction, so a restarted instance never waits for a zombie."""
        try:
            self.producer.init_transactions(self.settings.kafka.connect_timeout_s)
        except KafkaException as exc:
            raise StartupError(
                f"kafka: initializing transactions for transactional.id "
                f"{self.transactional_id!r} failed: {exc.args[0].str()}"
            ) from None

    # ------------------------------------------------------------------ a processed batch
    def deliver(self, outcomes: list[Outcome]) -> None:
        state = self.state
        outcomes = [o for o in outcomes if partition_of(o.message) in state.assignment]
        if not outcomes:
            return
        next_offsets: dict[TopicPartitionKey, int] = {}
        for outcome in outcomes:
            tp = partition_of(outcome.message)
            next_offsets[tp] = max(next_offsets.get(tp, 0), outcome.message.offset() + 1)
        now = time.monotonic()
        for tp, offset in next_offsets.items():
            state.watchdog.observe(tp, offset, state.last_committed.get(tp, -1), now)
        timeout = self.settings.delivery.flush_timeout_s
        try:
            self.producer.begin_transaction()
            self.in_transaction = True
            for outcome in outcomes:
                self._produce(outcome)
            self.transactions_begun += 1
            if self.in_transaction_hook is not None:
                self.in_transaction_hook(self.transactions_begun, self.producer)
            self._transaction_call(
                "send_offsets_to_transaction",
                self.producer.send_offsets_to_transaction,
                [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()],
                self.consumer.consumer_group_metadata(),
                timeout,
            )
            self._commit_transaction(timeout)
        except GuardTripped:
            self._abort_transaction("dead-letter guard tripped")
            raise
        except KafkaException as exc:
            self._recover(exc.args[0])
            return
        self._count_committed(outcomes)
        now = time.monotonic()
        for tp, offset in next_offsets.items():
            state.committed(tp, offset)
            state.committable(tp, offset)
            state.watchdog.observe(tp, offset, offset, now)

    def _commit_transaction(self, timeout: float) -> None:
        while True:
            try:
                self._transaction_call("commit_transaction", self.producer.commit_transaction, timeout)
                break
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if err.retriable() and not err.txn_requires_abort() and not err.fatal():
                    log(logger, logging.WARNING, "transaction commit: retrying", error=err.str())
                    self.watch_commits(time.monotonic())  # a commit retried for good is a stall too
                    continue
                raise
        self.in_transaction = False
        self.metrics.transactions.labels(result="committed").inc()
        self.metrics.commits.labels(result="success").inc()

    def _transaction_call(self, name: str, call, *args) -> None:
        """librdkafka's transactional calls can block past their timeout while the group or
        transaction coordinator restarts (librdkafka #5456, #5511; seen here on every broker
        restart): past delivery.flush_timeout_s + 5 s the producer is given up as failed, and a
        new one takes over (its init fences the old one)."""
        call_with_deadline(name, self.settings.delivery.flush_timeout_s + 5.0, call, *args)

    def _count_committed(self, outcomes: list[Outcome]) -> None:
        now = time.time()
        reasons: Counter = Counter()
        for outcome in outcomes:
            if outcome.rejected is not None:
                reasons[outcome.rejected.reason.value] += 1
                continue
            ts_type, ts = outcome.message.timestamp()
            if ts_type:
                self.metrics.end_to_end.observe(max(0.0, now - ts / 1000.0))
        dead = sum(reasons.values())
        self.metrics.produced.labels(topic=self.topics.output, kind="output").inc(len(outcomes) - dead)
        if dead:
            self.metrics.produced.labels(topic=self.topics.dead_letter, kind="dead_letter").inc(dead)
        for reason, n in reasons.items():
            self.metrics.dead_letters.labels(reason=reason).inc(n)

    # ------------------------------------------------------------------ abort and rewind
    def _abort_transaction(self, why: str, replace_on_failure: bool = True) -> None:
        if not self.in_transaction:
            return
        try:
            self.producer.abort_transaction(self.settings.delivery.flush_timeout_s)
            self.metrics.transactions.labels(result="aborted").inc()
            log(logger, logging.WARNING, "transaction aborted", reason=why)
        except KafkaException as exc:
            # e.g. INVALID_TXN_STATE after a coordinator moved: the producer is unusable; a new
            # one's init_transactions aborts the open transaction for us
            log(logger, logging.WARNING, "transaction abort failed", reason=why, error=str(exc))
            self.in_transaction = False
            if replace_on_failure:
                self.metrics.transactions.labels(result="fenced").inc()
                self._restart_producer()
        self.in_transaction = False

    def _recover(self, err: KafkaError) -> None:
        """Abort (or replace a fenced producer) and go back to the committed offsets."""
        if err.fatal() or err.code() in PRODUCER_FENCED_CODES:
            self.metrics.transactions.labels(result="fenced").inc()
            log(
                logger,
                logging.WARNING,
                "transactional producer fenced or failed; starting a new one",
                error=err.str(),
                transactional_id=self.transactional_id,
            )
            self._restart_producer()
        else:
            self._abort_transaction(err.str())
        self.metrics.commits.labels(result="failure").inc()
        self._rewind_to_committed()

    def _restart_producer(self) -> None:
        now = time.monotonic()
        self.producer_restarts.append(now)
        while self.producer_restarts and self.producer_restarts[0] < now - 60:
            self.producer_restarts.popleft()
        if len(self.producer_restarts) > MAX_PRODUCER_RESTARTS_PER_MINUTE:
            raise KafkaException(
                KafkaError(
                    KafkaError._FENCED,
                    "the transactional producer was fenced "
                    f"{len(self.producer_restarts)} times within a minute; another "
                    f"instance uses transactional.id {self.transactional_id!r}?",
                    fatal=True,
                )
            )
        self.in_transaction = False
        try:  # a fenced producer cannot deliver; the next one's init aborts its open transaction
            self.producer.purge()
        except KafkaException:
            pass
        self.producer = self.clients.producer(self.on_producer_error)
        try:
            self._init_transactions()
        except StartupError as exc:
            raise KafkaException(KafkaError(KafkaError._FENCED, str(exc), fatal=True)) from None

    def _rewind_to_committed(self) -> None:
        state = self.state
        state.batcher.drop(lambda _m: False)
        partitions = [TopicPartition(t, p) for t, p in sorted(state.assignment)]
        if not partitions:
            return
        for attempt in range(3):  # the group coordinator may be moving (a broker restart)
            try:
                committed = self.consumer.committed(partitions, timeout=self.settings.delivery.flush_timeout_s)
                break
            except KafkaException as exc:
                if attempt == 2:
                    raise
                log(logger, logging.WARNING, "reading the committed offsets failed; retrying", error=str(exc))
        for tp in committed:
            offset = tp.offset if tp.offset != OFFSET_INVALID else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
            state.tracker.seek((tp.topic, tp.partition), offset if offset >= 0 else None)
        log(
            logger,
            logging.WARNING,
            "rewound to the committed offsets",
            partitions={f"{tp.topic}[{tp.partition}]": tp.offset for tp in committed},
        )

    # ------------------------------------------------------------------ commits, revoke, stop
    def commit(self, trigger: str = "periodic", wait: bool = True, only: set[TopicPartitionKey] | None = None) -> None:
        """Nothing to do: offsets are committed inside each batch's transaction."""

    def final_commit(self) -> None:
        """Nothing to do: the last batch's transaction committed its offsets."""

    def watch_commits(self, now: float) -> None:
        """A transaction that has not committed for commit_stall_timeout_s: /healthz turns
        unhealthy and the process exits 5 (deliver() reports each batch's offsets)."""
        stalls = self.state.watchdog.stalled(now)
        if stalls:
            self._report_stalls(stalls)
            self._stalled(stalls)

    def finish_revoke(self, revoked: set[TopicPartitionKey], commit: bool) -> None:
        """No transaction spans a rebalance (revokes are served between batches): deliver what
        is in flight."""
        self.flush()

    def before_stop(self) -> None:
        self._abort_transaction("stopping", replace_on_failure=False)
