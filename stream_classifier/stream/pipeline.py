"""The loop: poll -> micro-batch -> decode -> classify -> produce -> commit what is delivered.

At-least-once (default): auto-commit and auto offset store are off; an input offset is committed
only after every record it caused (output or dead letter) is acknowledged by the broker, and
after it has left the dead-letter guard's window. Offsets are committed on an interval, on
partition revoke and on shutdown.

Exactly-once: one Kafka transaction per micro-batch: begin -> produce outputs and dead letters
-> send the batch's next offsets with the consumer's group metadata -> commit. Any error aborts
the transaction and rewinds the assigned partitions to their committed offsets; a fenced or
otherwise broken producer is replaced and the loop goes on from the committed offsets.

Kafka I/O stays on librdkafka's threads; this loop is one thread.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass

from confluent_kafka import (OFFSET_BEGINNING, OFFSET_INVALID, Consumer, KafkaError, KafkaException, Message,
                             Producer, TopicPartition)

from stream_classifier.dlq.headers import connect_headers
from stream_classifier.model.engines import ZeroShotEngine
from stream_classifier.observability import Health, Metrics, log
from stream_classifier.records import DeadLetterReason, Decoded, Rejected, decode_value
from stream_classifier.settings import Settings
from stream_classifier.stream.batcher import Batcher, estimate_tokens
from stream_classifier.stream.commit_watchdog import CommitWatchdog, Stall
from stream_classifier.stream.label_watch import LabelWatcher
from stream_classifier.stream.offsets import DeadLetterGuard, OffsetTracker

logger = logging.getLogger("stream_classifier.pipeline")

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_GUARD = 3
EXIT_KAFKA = 4
EXIT_COMMIT_STALLED = 5


PRODUCER_FENCED_CODES = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH,
                         KafkaError.INVALID_PRODUCER_ID_MAPPING)
MAX_PRODUCER_RESTARTS_PER_MINUTE = 5


class StartupError(RuntimeError):
    pass


class GuardTripped(RuntimeError):
    pass


class CommitStalled(RuntimeError):
    pass


@dataclass(slots=True)
class Outcome:
    """What one input became: an output record, or a dead letter."""

    message: Message
    value: bytes | None = None
    rejected: Rejected | None = None


def _is_fatal(err: KafkaError) -> bool:
    # a fenced static member (another process took its group.instance.id) surfaces as _FATAL
    return err.fatal() or err.code() in (KafkaError._FATAL, KafkaError.FENCED_INSTANCE_ID)


def _tp(message: Message) -> tuple[str, int]:
    return message.topic(), message.partition()


class Pipeline:
    def __init__(self, settings: Settings, engine: ZeroShotEngine, metrics: Metrics,
                 health: Health | None = None):
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.health = health or Health()
        self.labels = LabelWatcher(settings.labels.file, engine, metrics, settings.labels.watch_interval_s)
        self.tracker = OffsetTracker()
        g = settings.dead_letter_guard
        self.guard = DeadLetterGuard(g.window, g.min_records, g.max_ratio, g.idle_release_s, g.enabled)
        b = settings.batch
        self.batcher: Batcher[Message] = Batcher(b.max_size, b.max_wait_ms / 1000.0, b.max_tokens)
        self.watchdog = CommitWatchdog(settings.delivery.commit_stall_timeout_s)
        self.max_length = engine.model.max_length
        self.stop_requested = False
        self.paused = False
        self.failed_partitions: set[tuple[str, int]] = set()
        self.fatal_error: KafkaError | None = None
        self.last_committed: dict[tuple[str, int], int] = {}
        self.commit_outstanding = False  # an asynchronous commit whose result has not come back
        self.assignment: set[tuple[str, int]] = set()
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self._next_commit = 0.0
        self.topics = settings.topics
        self.exactly_once = settings.delivery.mode == "exactly_once"
        self.in_transaction = False
        self.producer_restarts: deque[float] = deque()
        self.transactions_begun = 0
        # fault injection for the reliability suite: die by SIGKILL inside the N-th transaction,
        # after its records reached the broker and before its commit
        self.kill_in_transaction = int(os.environ.get("SC_FAULT_KILL_IN_TRANSACTION", "0") or 0)

    # ------------------------------------------------------------------ clients
    def _client_logger(self) -> logging.Logger:
        return logging.getLogger("stream_classifier.librdkafka")

    def _error_cb(self, err: KafkaError) -> None:
        log(logger, logging.ERROR if err.fatal() else logging.WARNING, "kafka client error",
            code=err.name(), error=err.str(), fatal=err.fatal())
        if err.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED) or err.fatal():
            self.fatal_error = err

    def _transactional_producer_error_cb(self, err: KafkaError) -> None:
        """A fatal error of the transactional producer fails its next call, and that path replaces
        the producer; only authentication errors end the process."""
        log(logger, logging.WARNING, "transactional producer error", code=err.name(), error=err.str(),
            fatal=err.fatal())
        if err.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
            self.fatal_error = err

    def _make_clients(self) -> None:
        k = self.settings.kafka
        consumer_config = {
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
            "error_cb": self._error_cb,
            "on_commit": self._on_async_commit,
            "logger": self._client_logger(),
        }
        if k.group_instance_id:
            consumer_config["group.instance.id"] = k.group_instance_id
        if self.exactly_once:
            # inputs written by transactional producers are read only once committed
            consumer_config["isolation.level"] = "read_committed"
        if self.settings.metrics.statistics_interval_ms:
            consumer_config["statistics.interval.ms"] = self.settings.metrics.statistics_interval_ms
            consumer_config["stats_cb"] = self.metrics.update_from_statistics
        self.consumer = Consumer(consumer_config)
        self.producer = self._new_producer()

    @property
    def transactional_id(self) -> str:
        return f"{self.settings.kafka.group_id}.{self.settings.kafka.group_instance_id}"

    def _new_producer(self) -> Producer:
        k = self.settings.kafka
        config = {
            **k.client_config("producer"),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "error_cb": self._error_cb,
            "logger": self._client_logger(),
        }
        if self.exactly_once:
            config["transactional.id"] = self.transactional_id
            config["transaction.timeout.ms"] = self.settings.delivery.transaction_timeout_ms
            config["error_cb"] = self._transactional_producer_error_cb
        return Producer(config)

    def _init_transactions(self) -> None:
        """Register the transactional id; fences any older producer with the same id and aborts its
        open transaction, so a restarted instance never waits for a zombie."""
        assert self.producer is not None
        try:
            self.producer.init_transactions(self.settings.kafka.connect_timeout_s)
        except KafkaException as exc:
            raise StartupError(f"kafka: initializing transactions for transactional.id "
                               f"{self.transactional_id!r} failed: {exc.args[0].str()}") from None

    def _check_connectivity(self) -> None:
        """Fail fast with a clear error when the cluster cannot be reached or refuses us."""
        assert self.consumer is not None
        timeout = self.settings.kafka.connect_timeout_s
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            # error and log callbacks (an authentication failure among them) are served by poll
            # only; nothing is subscribed yet, so this poll consumes nothing
            self.consumer.poll(0)
            if self.fatal_error is not None:
                raise StartupError(f"kafka: {self.fatal_error.str()}")
            try:
                md = self.consumer.list_topics(timeout=1.0)
            except KafkaException as exc:
                last = exc
                time.sleep(0.2)
                continue
            if self.topics.input not in md.topics:
                log(logger, logging.WARNING, "the input topic does not exist yet; waiting for it",
                    topic=self.topics.input)
            return
        raise StartupError(f"cannot reach the Kafka cluster at {self.settings.kafka.bootstrap_servers} "
                           f"within {timeout:.0f}s: {last}")

    # ------------------------------------------------------------------ rebalance
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for p in partitions:
            tp = (p.topic, p.partition)
            self.assignment.add(tp)
            self.tracker.assign(tp)
        self.health.assigned = bool(self.assignment)
        if self.paused and partitions:
            consumer.pause(partitions)
        log(logger, logging.INFO, "partitions assigned", partitions=[f"{p.topic}[{p.partition}]" for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        dropped = self.batcher.drop(lambda m: _tp(m) not in revoked)
        self._flush_producer()
        if not self.guard.tripped():  # after a trip, the window stays uncommitted (close revokes too)
            for tp in revoked:
                self.guard.release_partition(tp)
        if not self.health.commit_stalled:  # after a stall, closing must not wait on another commit
            self._commit(only=revoked, trigger="revoke")
        for tp in revoked:
            self.tracker.revoke(tp)
            self.assignment.discard(tp)
            self.last_committed.pop(tp, None)
            self.failed_partitions.discard(tp)
            self.watchdog.forget(tp)
            self._forget_partition_metrics(tp)
        self.health.assigned = bool(self.assignment)
        log(logger, logging.INFO, "partitions revoked", partitions=sorted(f"{t}[{p}]" for t, p in revoked),
            dropped_unprocessed=dropped)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = {(p.topic, p.partition) for p in partitions}
        self.batcher.drop(lambda m: _tp(m) not in lost)
        for tp in lost:
            self.guard.release_partition(tp)
            self.tracker.revoke(tp)
            self.assignment.discard(tp)
            self.last_committed.pop(tp, None)
            self.watchdog.forget(tp)
            self._forget_partition_metrics(tp)
        self.health.assigned = bool(self.assignment)
        log(logger, logging.WARNING, "partitions lost", partitions=sorted(f"{t}[{p}]" for t, p in lost))

    def _forget_partition_metrics(self, tp: tuple[str, int]) -> None:
        self.metrics.forget_partition(*tp)

    # ------------------------------------------------------------------ the loop
    def request_stop(self, *_args) -> None:
        self.stop_requested = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, lambda *_: self.labels.request_reload())

    def run(self) -> int:
        self._make_clients()
        assert self.consumer is not None and self.producer is not None
        try:
            self._check_connectivity()
            if self.exactly_once:
                self._init_transactions()
        except StartupError as exc:
            log(logger, logging.ERROR, "start-up failed", error=str(exc))
            self.consumer.close()
            return EXIT_KAFKA
        self.consumer.subscribe([self.topics.input], on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)
        self.health.model_loaded = True
        log(logger, logging.INFO, "consuming", input=self.topics.input, output=self.topics.output,
            dead_letter=self.topics.dead_letter, label_set=self.labels.current.version,
            delivery=self.settings.delivery.mode,
            model=self.engine.model_id, kafka=self.settings.kafka.redacted())
        code = EXIT_OK
        try:
            while not self.stop_requested:
                self._step()
                if self.fatal_error is not None:
                    raise KafkaException(self.fatal_error)
        except GuardTripped as exc:
            log(logger, logging.ERROR, "dead-letter guard tripped: stopping without committing the window",
                error=str(exc))
            code = EXIT_GUARD
        except CommitStalled as exc:
            log(logger, logging.ERROR, "commits stalled: stopping so that a restart replays from the committed "
                "offsets", error=str(exc))
            code = EXIT_COMMIT_STALLED
        except KafkaException as exc:
            log(logger, logging.ERROR, "fatal kafka error", error=str(exc))
            code = EXIT_KAFKA
        except Exception:
            # only acknowledged inputs are committed below, so nothing is lost either way
            logger.exception("unexpected error in the loop; stopping")
            code = EXIT_INTERNAL
        finally:
            self.health.stopping = True
            if code == EXIT_COMMIT_STALLED:
                self._abandon()
            else:
                self._shutdown(clean=code == EXIT_OK)
        return code

    def _step(self) -> None:
        consumer = self.consumer
        assert consumer is not None and self.producer is not None
        self.health.tick()
        self.labels.maybe_reload()
        timeout = min(self.batcher.remaining_wait(), 0.1)
        room = self.batcher.room()
        messages = consumer.consume(num_messages=max(room, 1), timeout=timeout) if room > 0 else []
        redelivered: dict[tuple[str, int], list[int]] = defaultdict(list)
        for message in messages:
            err = message.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log(logger, logging.WARNING, "consume error", error=err.str())
                    if _is_fatal(err):
                        self.fatal_error = err
                continue
            if not self.tracker.accept(_tp(message), message.offset()):
                redelivered[_tp(message)].append(message.offset())
                continue
            self.batcher.add(message, estimate_tokens(message.value(), self.max_length))
        if redelivered:
            self._skip_redelivered(redelivered)
        if self.batcher.ready() or (self.batcher.batch.items and self.paused):
            self._process(self.batcher.take())
        self.producer.poll(0)
        self._handle_failed_deliveries()
        now = time.monotonic()
        self.guard.release_if_idle(now)
        self.metrics.guard_ratio.set(self.guard.ratio())
        self._backpressure()
        if now >= self._next_commit:
            self._commit(wait=False)
            self._next_commit = now + self.settings.delivery.commit_interval_s
        self._watch_commits(now)

    def _watch_commits(self, now: float) -> None:
        """The commit watchdog: a partition behind its committable offset for longer than
        delivery.commit_stall_timeout_s gets one synchronous commit bounded by flush_timeout_s
        (at-least-once); if that fails too (or a transaction has not committed for that long),
        /healthz turns unhealthy and the process exits 5. Nothing is lost: a restart replays from
        the committed offsets."""
        if not self.exactly_once:
            held = self.guard.held_from()
            for tp in self.assignment:
                self.watchdog.observe(tp, self.tracker.committable(tp, held.get(tp)),
                                      self.last_committed.get(tp, -1), now)
        self._check_stalls(now)

    def _check_stalls(self, now: float) -> None:
        stalls = self.watchdog.stalled(now)
        if not stalls:
            return
        log(logger, logging.WARNING, "commit watchdog: committable offsets have not been committed",
            timeout_s=self.settings.delivery.commit_stall_timeout_s, partitions=[s.describe() for s in stalls])
        if not self.exactly_once and self._commit_bounded(stalls):
            self.metrics.commit_stalls.labels(outcome="recovered").inc(len(stalls))
            log(logger, logging.WARNING, "commit watchdog: the synchronous retry committed",
                partitions=[s.describe() for s in stalls])
            return
        self.metrics.commit_stalls.labels(outcome="exit").inc(len(stalls))
        self.health.commit_stalled = True
        raise CommitStalled("; ".join(s.describe() for s in stalls))

    def _commit_bounded(self, stalls: list[Stall]) -> bool:
        """One synchronous commit of the stalled partitions, given up after flush_timeout_s."""
        assert self.consumer is not None
        offsets = [TopicPartition(s.partition[0], s.partition[1], s.committable) for s in stalls]
        self.metrics.commit_requests.labels(trigger="watchdog").inc()
        try:
            committed = call_with_deadline("commit", self.settings.delivery.flush_timeout_s,
                                           self.consumer.commit, offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self._on_commit(exc.args[0], offsets)
            return False
        self._on_commit(None, committed if committed is not None else offsets)
        recovered = all(self.last_committed.get(s.partition, -1) >= s.committable for s in stalls)
        if recovered:
            # the asynchronous commit it replaces has been waiting longer than librdkafka keeps a
            # commit waiting for a coordinator (session.timeout.ms): periodic commits go on
            self.commit_outstanding = False
        return recovered

    def _skip_redelivered(self, redelivered: dict[tuple[str, int], list[int]]) -> None:
        """Inputs handed over again at offsets this process already consumed are in flight or
        delivered: processing them again would track an offset twice (and, in exactly-once,
        write its output twice)."""
        for tp, offsets in redelivered.items():
            self.metrics.redelivered.labels(topic=tp[0]).inc(len(offsets))
            log(logger, logging.WARNING, "the consumer handed over offsets it had already handed over; skipped",
                partition=f"{tp[0]}[{tp[1]}]", offsets=f"{min(offsets)}..{max(offsets)}", count=len(offsets),
                next_new=self.tracker.partitions[tp].handed_over)

    # ------------------------------------------------------------------ processing
    def _process(self, batch) -> None:
        messages: list[Message] = batch.items
        if not messages:
            return
        started = time.monotonic()
        self.metrics.batch_size.observe(len(messages))
        if batch.opened_at is not None:
            self.metrics.batch_wait.observe(started - batch.opened_at)
        label_set = self.labels.current
        input_settings = self.settings.input
        outcomes: list[Outcome] = []
        texts: list[str] = []
        text_owner: list[int] = []
        ids: list = []
        consumed = Counter()
        for message in messages:
            consumed[message.topic()] += 1
            decoded = decode_value(message.value(), input_settings)
            outcome = Outcome(message)
            if isinstance(decoded, Decoded):
                text_owner.append(len(outcomes))
                texts.append(decoded.text)
                ids.append(decoded.record_id)
            else:
                outcome.rejected = decoded
            outcomes.append(outcome)
        for topic, n in consumed.items():
            self.metrics.consumed.labels(topic=topic).inc(n)

        inference_started = time.monotonic()
        results = self._classify_bisecting(texts, label_set)
        self.metrics.inference.observe(time.monotonic() - inference_started)

        label_counts = Counter()
        now_ms = int(time.time() * 1000)
        processing_ms = round((time.monotonic() - started) * 1000.0, 3)
        include_text = self.settings.output.include_text
        for position, owner in enumerate(text_owner):
            outcome = outcomes[owner]
            result = results[position]
            if isinstance(result, Exception):
                outcome.rejected = Rejected(DeadLetterReason.INFERENCE_FAILED, f"{type(result).__name__}: {result}")
                continue
            message = outcome.message
            ts_type, ts = message.timestamp()
            record = {"id": ids[position], "text": texts[position] if include_text else None, **result,
                      "source": {"topic": message.topic(), "partition": message.partition(),
                                 "offset": message.offset(), "timestamp_ms": ts if ts_type else None},
                      "processed_at_ms": now_ms, "processing_ms": processing_ms}
            outcome.value = json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")
            label_counts[result["label"]] += 1
        for label, n in label_counts.items():
            self.metrics.labels_assigned.labels(label_set=label_set.name, label=label).inc(n)

        if self.exactly_once:
            self._deliver_in_transaction(outcomes)
        else:
            for outcome in outcomes:
                self._produce(outcome)

    def _classify_bisecting(self, texts: list[str], label_set) -> list:
        """Per text: the result dict, or the exception that its inference raised.

        A failed batch is bisected until the guilty texts are found; the rest are labeled.
        """
        if not texts:
            return []
        try:
            result = self.engine.classify(texts, label_set)
        except Exception as exc:  # noqa: BLE001 - any inference failure is bisected
            if len(texts) == 1:
                return [exc]
            half = len(texts) // 2
            return self._classify_bisecting(texts[:half], label_set) + \
                self._classify_bisecting(texts[half:], label_set)
        if result.cache_hits:
            self.metrics.cache_hits.inc(result.cache_hits)
        return [result.as_dict(i) for i in range(len(texts))]

    def _produce(self, outcome: Outcome) -> None:
        message = outcome.message
        tp = _tp(message)
        if tp not in self.assignment:
            return  # revoked while the batch was in hand: the new owner re-reads it
        offset = message.offset()
        ts_type, ts = message.timestamp()
        dead = outcome.rejected is not None
        kind = "dead_letter" if dead else "output"
        topic = self.topics.dead_letter if dead else self.topics.output
        on_delivery = None
        if not self.exactly_once:  # in a transaction, the commit is the acknowledgement
            generation = self.tracker.generation(tp)
            self.tracker.track(tp, offset, 1)
            tracker, metrics, failed = self.tracker, self.metrics, self.failed_partitions

            def on_delivery(err, _msg, tp=tp, offset=offset, generation=generation, ts=ts if ts_type else None):
                if err is not None:
                    metrics.delivery_failures.labels(kind=kind).inc()
                    log(logger, logging.WARNING, "delivery failed; the partition will be replayed",
                        topic=topic, error=err.str(), source=f"{tp[0]}[{tp[1]}]@{offset}")
                    progress = tracker.partitions.get(tp)
                    if progress is not None and progress.generation == generation:
                        failed.add(tp)
                    return
                tracker.ack(tp, offset, generation)
                metrics.produced.labels(topic=topic, kind=kind).inc()
                if ts is not None and not dead:
                    metrics.end_to_end.observe(max(0.0, time.time() - ts / 1000.0))

        if dead:
            rejected = outcome.rejected
            assert rejected is not None
            headers = list(message.headers() or []) + [
                ("sc.reason", rejected.reason.value.encode()),
                ("sc.error", rejected.error.encode("utf-8", "replace")[:1000]),
                ("sc.source.topic", message.topic().encode()),
                ("sc.source.partition", str(message.partition()).encode()),
                ("sc.source.offset", str(offset).encode()),
            ]
            if ts_type:
                headers.append(("sc.source.timestamp", str(ts).encode()))
            if self.topics.dead_letter_connect_headers:
                headers += connect_headers(message.topic(), message.partition(), offset, rejected.reason.value,
                                           rejected.error, self.settings.kafka.group_id)
            value = message.value()
            if not self.exactly_once:
                self.metrics.dead_letters.labels(reason=rejected.reason.value).inc()
        else:
            headers = None
            value = outcome.value
        self.guard.observe(tp, offset, dead, time.monotonic())
        if self.guard.tripped():
            # checked per record, so the window that trips is exactly the last `window` records
            raise GuardTripped(f"dead-letter share {self.guard.ratio():.2f} over the last "
                               f"{len(self.guard.recent)} records exceeds {self.guard.max_ratio}")
        self._produce_with_backoff(topic, message.key(), value, headers, on_delivery)

    # ------------------------------------------------------------------ exactly-once
    def _deliver_in_transaction(self, outcomes: list[Outcome]) -> None:
        outcomes = [o for o in outcomes if _tp(o.message) in self.assignment]
        if not outcomes:
            return
        assert self.consumer is not None and self.producer is not None
        next_offsets: dict[tuple[str, int], int] = {}
        for outcome in outcomes:
            tp = _tp(outcome.message)
            next_offsets[tp] = max(next_offsets.get(tp, 0), outcome.message.offset() + 1)
        now = time.monotonic()
        for tp, offset in next_offsets.items():
            self.watchdog.observe(tp, offset, self.last_committed.get(tp, -1), now)
        timeout = self.settings.delivery.flush_timeout_s
        try:
            self.producer.begin_transaction()
            self.in_transaction = True
            for outcome in outcomes:
                self._produce(outcome)
            self.transactions_begun += 1
            if self.transactions_begun == self.kill_in_transaction:
                self.producer.flush(10)
                log(logger, logging.WARNING, "fault injection: SIGKILL inside a transaction",
                    transaction=self.transactions_begun)
                os.kill(os.getpid(), signal.SIGKILL)
            self._transaction_call("send_offsets_to_transaction", self.producer.send_offsets_to_transaction,
                                   [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()],
                                   self.consumer.consumer_group_metadata(), timeout)
            self._commit_transaction(timeout)
        except GuardTripped:
            self._abort_transaction("dead-letter guard tripped")
            raise
        except KafkaException as exc:
            self._recover_transaction(exc.args[0])
            return
        self._count_committed(outcomes)
        now = time.monotonic()
        for tp, offset in next_offsets.items():
            self.last_committed[tp] = offset
            self.watchdog.observe(tp, offset, offset, now)
            labels = {"topic": tp[0], "partition": str(tp[1])}
            self.metrics.offset_committable.labels(**labels).set(offset)
            self.metrics.offset_committed.labels(**labels).set(offset)

    def _commit_transaction(self, timeout: float) -> None:
        assert self.producer is not None
        while True:
            try:
                self._transaction_call("commit_transaction", self.producer.commit_transaction, timeout)
                break
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if err.retriable() and not err.txn_requires_abort() and not err.fatal():
                    log(logger, logging.WARNING, "transaction commit: retrying", error=err.str())
                    self._check_stalls(time.monotonic())  # a commit retried for good is a stall too
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

    def _abort_transaction(self, why: str, replace_on_failure: bool = True) -> None:
        assert self.producer is not None
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

    def _recover_transaction(self, err: KafkaError) -> None:
        """Abort (or replace a fenced producer) and go back to the committed offsets."""
        if err.fatal() or err.code() in PRODUCER_FENCED_CODES:
            self.metrics.transactions.labels(result="fenced").inc()
            log(logger, logging.WARNING, "transactional producer fenced or failed; starting a new one",
                error=err.str(), transactional_id=self.transactional_id)
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
            raise KafkaException(KafkaError(KafkaError._FENCED, "the transactional producer was fenced "
                                            f"{len(self.producer_restarts)} times within a minute; another "
                                            f"instance uses transactional.id {self.transactional_id!r}?",
                                            fatal=True))
        assert self.producer is not None
        self.in_transaction = False
        try:  # a fenced producer cannot deliver; the next one's init aborts its open transaction
            self.producer.purge()
        except KafkaException:
            pass
        self.producer = self._new_producer()
        try:
            self._init_transactions()
        except StartupError as exc:
            raise KafkaException(KafkaError(KafkaError._FENCED, str(exc), fatal=True)) from None

    def _rewind_to_committed(self) -> None:
        assert self.consumer is not None
        self.batcher.drop(lambda _m: False)
        partitions = [TopicPartition(t, p) for t, p in sorted(self.assignment)]
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
            self.tracker.seek((tp.topic, tp.partition), offset if offset >= 0 else None)
        log(logger, logging.WARNING, "rewound to the committed offsets",
            partitions={f"{tp.topic}[{tp.partition}]": tp.offset for tp in committed})

    def _produce_with_backoff(self, topic, key, value, headers, on_delivery) -> None:
        assert self.producer is not None
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:
                # the producer queue is full: serve delivery reports until there is room
                self.producer.poll(0.05)

    # ------------------------------------------------------------------ delivery, commit
    def _handle_failed_deliveries(self) -> None:
        if not self.failed_partitions:
            return
        assert self.consumer is not None
        for tp in list(self.failed_partitions):
            self.failed_partitions.discard(tp)
            self.batcher.drop(lambda m, tp=tp: _tp(m) != tp)
            seek_to = self.tracker.rewind(tp)
            if seek_to is not None and tp in self.assignment:
                try:
                    self.consumer.seek(TopicPartition(tp[0], tp[1], seek_to))
                except KafkaException as exc:
                    log(logger, logging.WARNING, "seek for replay failed", partition=f"{tp[0]}[{tp[1]}]",
                        error=str(exc))
                log(logger, logging.WARNING, "replaying partition from its first undelivered input",
                    partition=f"{tp[0]}[{tp[1]}]", offset=seek_to)

    def _backpressure(self) -> None:
        assert self.consumer is not None and self.producer is not None
        in_flight = self.tracker.in_flight()
        self.metrics.in_flight.set(in_flight)
        limit = self.settings.delivery.max_in_flight
        if not self.paused and in_flight >= limit:
            self.consumer.pause([TopicPartition(t, p) for t, p in self.assignment])
            self.paused = True
            self.metrics.paused.set(1)
            self.metrics.pauses.inc()
            log(logger, logging.INFO, "backpressure: fetching paused", in_flight=in_flight)
        elif self.paused and in_flight <= limit // 2:
            self.consumer.resume([TopicPartition(t, p) for t, p in self.assignment])
            self.paused = False
            self.metrics.paused.set(0)
            log(logger, logging.INFO, "backpressure: fetching resumed", in_flight=in_flight)

    def _commit(self, only: set[tuple[str, int]] | None = None, wait: bool = True,
                trigger: str = "periodic") -> None:
        """Commit what the tracker allows: synchronously on revoke and shutdown, asynchronously on
        the interval, and then only once the previous asynchronous commit's result is back.

        Kafka keeps the last offset commit that reaches the coordinator, and librdkafka re-sends
        a commit that was in flight when the coordinator's connection dropped (or that waited for
        a coordinator) after the commits issued later. With several commits in flight across a
        broker restart, an old one landed last and moved the group's offset back for good (seen:
        committed 1228 after 2167 had succeeded), while this loop, told 2167 succeeded, had
        nothing newer to send. One commit in flight keeps the commits in order."""
        assert self.consumer is not None
        if self.exactly_once:
            return  # offsets are committed inside each batch's transaction
        if not wait and self.commit_outstanding:
            log(logger, logging.DEBUG, "commit decision: the previous asynchronous commit has no result yet",
                trigger=trigger)
            return
        held = self.guard.held_from()
        offsets, decision = [], {}
        for tp in sorted(only if only is not None else self.assignment):
            done = self.tracker.committable(tp)
            offset = self.tracker.committable(tp, held.get(tp))
            committed = self.last_committed.get(tp, -1)
            if offset is not None:
                self.metrics.offset_committable.labels(topic=tp[0], partition=str(tp[1])).set(offset)
            send = offset is not None and offset > committed
            decision[f"{tp[0]}[{tp[1]}]"] = {"delivered": done, "held_from": held.get(tp), "committed": committed,
                                             "sent": offset if send else None}
            if send:
                offsets.append(TopicPartition(tp[0], tp[1], offset))
        if logger.isEnabledFor(logging.DEBUG):
            log(logger, logging.DEBUG, "commit decision", trigger=trigger, partitions=decision)
        if not offsets:
            return
        self.metrics.commit_requests.labels(trigger=trigger).inc()
        try:
            committed = self.consumer.commit(offsets=offsets, asynchronous=not wait)
        except KafkaException as exc:
            self._on_commit(exc.args[0], offsets)
            return
        if wait:
            self._on_commit(None, committed if committed is not None else offsets)
        else:
            self.commit_outstanding = True

    def _on_async_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's on_commit callback, served by consume(): asynchronous commits only (a
        synchronous commit returns its own result)."""
        self.commit_outstanding = False
        self._on_commit(err, partitions)

    def _await_outstanding_commit(self, timeout: float) -> None:
        """Serve the consumer's queue until the asynchronous commit in flight has its result, so
        that the final synchronous commit cannot be overtaken by it (what is read is dropped:
        nothing past the tracker's committable offsets is committed)."""
        assert self.consumer is not None
        deadline = time.monotonic() + timeout
        while self.commit_outstanding and time.monotonic() < deadline:
            self.consumer.consume(num_messages=1, timeout=0.1)
        if self.commit_outstanding:
            log(logger, logging.WARNING, "the last asynchronous commit has no result yet", waited_s=timeout)

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The result of a commit, synchronous or not (partitions carry their own errors)."""
        failed = [tp for tp in partitions if tp.error is not None]
        if err is not None or failed:
            self.metrics.commits.labels(result="failure").inc()
            log(logger, logging.WARNING, "commit failed", error=err.str() if err is not None else None,
                partitions=[f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed])
            if err is not None and _is_fatal(err):
                self.fatal_error = err
        else:
            self.metrics.commits.labels(result="success").inc()
        for tp in partitions:
            key = (tp.topic, tp.partition)
            # an asynchronous result may come back after its partition was revoked
            if err is None and tp.error is None and key in self.assignment:
                self.watchdog.committed(key, time.monotonic())
            if (err is None and tp.error is None and key in self.assignment
                    and tp.offset > self.last_committed.get(key, -1)):
                self.last_committed[key] = tp.offset
                self.metrics.offset_committed.labels(topic=tp.topic, partition=str(tp.partition)).set(tp.offset)

    def _flush_producer(self) -> None:
        assert self.producer is not None
        remaining = self.producer.flush(self.settings.delivery.flush_timeout_s)
        if remaining:
            log(logger, logging.WARNING, "producer flush timed out", undelivered=remaining)

    def _abandon(self) -> None:
        """After a commit stall: no further commit (it just failed), close within a deadline, since
        closing waits for the stalled requests; the restart replays from the committed offsets."""
        assert self.consumer is not None and self.producer is not None
        self._flush_producer()
        try:
            call_with_deadline("close", self.settings.delivery.flush_timeout_s, self.consumer.close)
        except KafkaException as exc:
            log(logger, logging.WARNING, "closing the consumer did not finish", error=str(exc))
        log(logger, logging.INFO, "stopped", clean=False)

    def _shutdown(self, clean: bool) -> None:
        assert self.consumer is not None and self.producer is not None
        try:
            if self.exactly_once:
                self._abort_transaction("stopping", replace_on_failure=False)
            if clean:
                self._process(self.batcher.take())  # finish the batch in hand
            self._flush_producer()
            self._handle_failed_deliveries()
            if clean:
                self.guard.release_all()
            if not self.exactly_once:
                self._await_outstanding_commit(self.settings.delivery.flush_timeout_s)
            self._commit(trigger="shutdown")
        finally:
            self.consumer.close()
            log(logger, logging.INFO, "stopped", clean=clean)


def call_with_deadline(name: str, timeout: float, call, *args, **kwargs):
    """Run a blocking librdkafka call on a helper thread and give up on it after `timeout` s
    (a synchronous commit has no timeout of its own); its result, or a fatal _TIMED_OUT error."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["result"] = call(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"{name} blocked past its deadline", fatal=True))
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")
