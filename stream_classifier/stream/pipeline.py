"""The loop: poll -> micro-batch -> decode -> classify -> hand over to the delivery mode -> commit
on the interval, and the commit watchdog; the least sure records are offered to the review queue.

What a delivered batch means and what a commit is belong to the delivery mode
(at_least_once.py, exactly_once.py); the Kafka clients come from a ClientFactory
(kafka_clients.py), so tests can drive this loop with stand-ins. Kafka I/O stays on librdkafka's
threads; this loop is one thread.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from stream_classifier.exit_codes import EXIT_COMMIT_STALLED, EXIT_GUARD, EXIT_INTERNAL, EXIT_KAFKA, EXIT_OK
from stream_classifier.labels import LabelSet
from stream_classifier.model.engines import ZeroShotEngine
from stream_classifier.observability import Health, Metrics, log
from stream_classifier.records import DeadLetterReason, Decoded, Rejected, combined_result, decode_value, output_value
from stream_classifier.settings import Settings
from stream_classifier.stream.at_least_once import AtLeastOnce
from stream_classifier.stream.batcher import Batcher, estimate_tokens
from stream_classifier.stream.commit_watchdog import CommitWatchdog
from stream_classifier.stream.deadline import call_with_deadline
from stream_classifier.stream.delivery import DeliveryMode, LoopState, Outcome, partition_of, source_of
from stream_classifier.stream.exactly_once import ExactlyOnce
from stream_classifier.stream.fault_injection import TransactionHook
from stream_classifier.stream.kafka_clients import ClientFactory, check_connectivity, is_fatal
from stream_classifier.stream.label_watch import LabelWatchers
from stream_classifier.stream.offsets import DeadLetterGuard, OffsetTracker
from stream_classifier.stream.review_candidates import ReviewWriter
from stream_classifier.stream.stops import CommitStalled, GuardTripped, StartupError

logger = logging.getLogger(__name__)


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        engine: ZeroShotEngine,
        metrics: Metrics,
        clients: ClientFactory,
        health: Health | None = None,
        in_transaction_hook: TransactionHook | None = None,
        review_writer: Callable[[], ReviewWriter | None] | None = None,
    ):
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.clients = clients
        self.health = health or Health()
        self.labels = LabelWatchers(settings.labels.files, engine, metrics, settings.labels.watch_interval_s)
        g, b = settings.dead_letter_guard, settings.batch
        self.state = LoopState(
            settings,
            metrics,
            self.health,
            tracker=OffsetTracker(),
            guard=DeadLetterGuard(g.window, g.min_records, g.max_ratio, g.idle_release_s, g.enabled),
            watchdog=CommitWatchdog(settings.delivery.commit_stall_timeout_s),
            batcher=Batcher(b.max_size, b.max_wait_ms / 1000.0, b.max_tokens),
        )
        self.tracker, self.guard, self.batcher = self.state.tracker, self.state.guard, self.state.batcher
        self.delivery: DeliveryMode = (
            ExactlyOnce(self.state, in_transaction_hook)
            if settings.delivery.mode == "exactly_once"
            else AtLeastOnce(self.state)
        )
        self.max_length = engine.model.max_length
        self.topics = settings.topics
        self.stop_requested = False
        self.paused = False
        self.consumer = None
        self._next_commit = 0.0
        self._review_writer = review_writer
        self.review: ReviewWriter | None = None

    # ------------------------------------------------------------------ start and stop
    def request_stop(self, *_args) -> None:
        self.stop_requested = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, lambda *_: self.labels.request_reload())

    def start(self) -> bool:
        """Clients up, cluster reached, subscribed; False (logged) when the cluster refuses us."""
        self.consumer = self.clients.consumer(self.delivery.on_client_error, self.delivery.on_commit_result)
        try:
            check_connectivity(self.consumer, self.settings, lambda: self.state.fatal_error)
            self.delivery.start(self.consumer, self.clients)
            self.review = self._review_writer() if self._review_writer else None
        except StartupError as exc:
            log(logger, logging.ERROR, "start-up failed", error=str(exc))
            self.consumer.close()
            return False
        self.consumer.subscribe(
            [self.topics.input], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        self.health.model_loaded = True
        log(
            logger,
            logging.INFO,
            "consuming",
            input=self.topics.input,
            output=self.topics.output,
            dead_letter=self.topics.dead_letter,
            label_sets=[s.version for s in self.labels.current],
            delivery=self.settings.delivery.mode,
            model=self.engine.model_id,
            kafka=self.settings.kafka.redacted(),
        )
        return True

    def run(self) -> int:
        return self.run_loop() if self.start() else EXIT_KAFKA

    def run_loop(self) -> int:
        """Steps until asked to stop or stopped by a fault; the exit code."""
        code = EXIT_OK
        try:
            while not self.stop_requested:
                self.step()
                if self.state.fatal_error is not None:
                    raise KafkaException(self.state.fatal_error)
        except GuardTripped as exc:
            log(
                logger,
                logging.ERROR,
                "dead-letter guard tripped: stopping without committing the window",
                error=str(exc),
            )
            code = EXIT_GUARD
        except CommitStalled as exc:
            log(
                logger,
                logging.ERROR,
                "commits stalled: stopping so that a restart replays from the committed offsets",
                error=str(exc),
            )
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
                if code == EXIT_OK and self.state.fatal_error is not None:
                    # the last commit failed or passed its deadline: a restart replays the uncommitted tail
                    log(logger, logging.ERROR, "stopped without committing", error=self.state.fatal_error.str())
                    code = EXIT_KAFKA
        return code

    def _shutdown(self, clean: bool) -> None:
        try:
            self.delivery.before_stop()
            if clean:
                self._process(self.batcher.take())  # finish the batch in hand
            self.delivery.flush()
            self.delivery.serve()
            if clean:
                self.guard.release_all()
            self.delivery.final_commit()
        finally:
            self._close_consumer()
            if self.review is not None:
                self.review.close(self.settings.delivery.flush_timeout_s)
            log(logger, logging.INFO, "stopped", clean=clean and self.state.fatal_error is None)

    def _abandon(self) -> None:
        """After a commit stall: no further commit (it just failed), close within a deadline, since
        closing waits for the stalled requests; the restart replays from the committed offsets."""
        self.delivery.flush()
        self._close_consumer()
        log(logger, logging.INFO, "stopped", clean=False)

    def _close_consumer(self) -> None:
        """Leave the group within delivery.flush_timeout_s: closing waits for the coordinator, which
        may be gone for good (fault 8)."""
        try:
            call_with_deadline("close", self.settings.delivery.flush_timeout_s, self.consumer.close)
        except KafkaException as exc:
            log(logger, logging.WARNING, "closing the consumer did not finish", error=str(exc))

    # ------------------------------------------------------------------ one turn of the loop
    def step(self) -> None:
        """poll -> batch -> process and hand over -> serve deliveries -> backpressure -> commit policy."""
        self.health.tick()
        self.labels.maybe_reload()
        self._poll()
        if self.batcher.ready() or (self.batcher.batch.items and self.paused):
            self._process(self.batcher.take())
        self.delivery.serve()
        if self.review is not None:
            self.review.serve()
        now = time.monotonic()
        self.guard.release_if_idle(now)
        self.metrics.guard_ratio.set(self.guard.ratio())
        self._backpressure()
        if now >= self._next_commit:
            self.delivery.commit(trigger="periodic", wait=False)
            self._next_commit = now + self.settings.delivery.commit_interval_s
        self.delivery.watch_commits(now)

    def _poll(self) -> None:
        timeout = min(self.batcher.remaining_wait(), 0.1)
        room = self.batcher.room()
        messages = self.consumer.consume(num_messages=max(room, 1), timeout=timeout) if room > 0 else []
        redelivered: dict[tuple[str, int], list[int]] = defaultdict(list)
        for message in messages:
            err = message.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log(logger, logging.WARNING, "consume error", error=err.str())
                    if is_fatal(err):
                        self.state.fatal_error = err
                continue
            tp = partition_of(message)
            if not self.tracker.accept(tp, message.offset()):
                redelivered[tp].append(message.offset())
                continue
            self.batcher.add(message, estimate_tokens(message.value(), self.max_length))
        for tp, offsets in redelivered.items():
            # inputs handed over again at offsets this process already consumed are in flight or
            # delivered: processing them again would track an offset twice (and, in exactly-once,
            # write its output twice)
            self.metrics.redelivered.labels(topic=tp[0]).inc(len(offsets))
            log(
                logger,
                logging.WARNING,
                "the consumer handed over offsets it had already handed over; skipped",
                partition=f"{tp[0]}[{tp[1]}]",
                offsets=f"{min(offsets)}..{max(offsets)}",
                count=len(offsets),
                next_new=self.tracker.partitions[tp].handed_over,
            )

    def _process(self, batch) -> None:
        """Decode, classify, build each input's output record or dead letter, hand them over."""
        messages: list[Message] = batch.items
        if not messages:
            return
        started = time.monotonic()
        self.metrics.batch_size.observe(len(messages))
        if batch.opened_at is not None:
            self.metrics.batch_wait.observe(started - batch.opened_at)
        label_sets = self.labels.current
        names = [label_set.name for label_set in label_sets]
        outcomes = [Outcome(m) for m in messages]
        decoded: list[tuple[Outcome, Decoded]] = []
        for outcome in outcomes:
            result = decode_value(outcome.message.value(), self.settings.input)
            if isinstance(result, Decoded):
                decoded.append((outcome, result))
            else:
                outcome.rejected = result
        for topic, n in Counter(m.topic() for m in messages).items():
            self.metrics.consumed.labels(topic=topic).inc(n)

        inference_started = time.monotonic()
        results = self._classify_bisecting([d.text for _, d in decoded], label_sets)
        self.metrics.inference.observe(time.monotonic() - inference_started)

        label_counts: Counter = Counter()
        now_ms = int(time.time() * 1000)
        processing_ms = round((time.monotonic() - started) * 1000.0, 3)
        include_text = self.settings.output.include_text
        for (outcome, d), per_set in zip(decoded, results):
            if isinstance(per_set, Exception):
                outcome.rejected = Rejected(DeadLetterReason.INFERENCE_FAILED, f"{type(per_set).__name__}: {per_set}")
                continue
            result = combined_result(names, per_set)
            source = source_of(outcome.message)
            outcome.value = output_value(
                d.record_id, d.text if include_text else None, result, source, now_ms, processing_ms
            )
            for label_set, r in zip(label_sets, per_set):
                label_counts[label_set.name, r["label"]] += 1
                if self.review is not None:
                    self.review.offer(label_set, d.text, r, source)
        for (name, label), n in label_counts.items():
            self.metrics.labels_assigned.labels(label_set=name, label=label).inc(n)
        self.delivery.deliver(outcomes)

    def _classify_bisecting(self, texts: list[str], label_sets: list[LabelSet]) -> list:
        """Per text: its result dict under each label set, or the exception that its inference raised.

        A failed batch is bisected until the guilty texts are found; the rest are labeled.
        """
        if not texts:
            return []
        try:
            results = self.engine.classify_many(texts, label_sets)
        except Exception as exc:  # noqa: BLE001 - any inference failure is bisected
            if len(texts) == 1:
                return [exc]
            half = len(texts) // 2
            return self._classify_bisecting(texts[:half], label_sets) + self._classify_bisecting(
                texts[half:], label_sets
            )
        hits = min(result.cache_hits for result in results)
        if hits:
            self.metrics.cache_hits.inc(hits)
        return [[result.as_dict(i) for result in results] for i in range(len(texts))]

    def _backpressure(self) -> None:
        in_flight = self.tracker.in_flight()
        self.metrics.in_flight.set(in_flight)
        limit = self.settings.delivery.max_in_flight
        if not self.paused and in_flight >= limit:
            self.consumer.pause([TopicPartition(t, p) for t, p in self.state.assignment])
            self.paused = True
            self.metrics.paused.set(1)
            self.metrics.pauses.inc()
            log(logger, logging.INFO, "backpressure: fetching paused", in_flight=in_flight)
        elif self.paused and in_flight <= limit // 2:
            self.consumer.resume([TopicPartition(t, p) for t, p in self.state.assignment])
            self.paused = False
            self.metrics.paused.set(0)
            log(logger, logging.INFO, "backpressure: fetching resumed", in_flight=in_flight)

    # ------------------------------------------------------------------ rebalance
    def _on_assign(self, consumer, partitions: list[TopicPartition]) -> None:
        for p in partitions:
            tp = (p.topic, p.partition)
            self.state.assignment.add(tp)
            self.tracker.assign(tp)
        self.health.assigned = bool(self.state.assignment)
        if self.paused and partitions:
            consumer.pause(partitions)
        log(logger, logging.INFO, "partitions assigned", partitions=[f"{p.topic}[{p.partition}]" for p in partitions])

    def _on_revoke(self, consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        dropped = self.batcher.drop(lambda m: partition_of(m) not in revoked)
        if not self.guard.tripped():  # after a trip, the window stays uncommitted (close revokes too)
            for tp in revoked:
                self.guard.release_partition(tp)
        # after a stall or a failed last commit, closing must not wait on another commit
        self.delivery.finish_revoke(revoked, commit=not self.health.commit_stalled and self.state.fatal_error is None)
        self._forget(revoked)
        log(
            logger,
            logging.INFO,
            "partitions revoked",
            partitions=sorted(f"{t}[{p}]" for t, p in revoked),
            dropped_unprocessed=dropped,
        )

    def _on_lost(self, consumer, partitions: list[TopicPartition]) -> None:
        """Another member owns these already: nothing of theirs can be committed or finished."""
        lost = {(p.topic, p.partition) for p in partitions}
        self.batcher.drop(lambda m: partition_of(m) not in lost)
        for tp in lost:
            self.guard.release_partition(tp)
        self._forget(lost)
        log(logger, logging.WARNING, "partitions lost", partitions=sorted(f"{t}[{p}]" for t, p in lost))

    def _forget(self, partitions: set[tuple[str, int]]) -> None:
        for tp in partitions:
            self.tracker.revoke(tp)
            self.state.assignment.discard(tp)
            self.state.last_committed.pop(tp, None)
            self.state.watchdog.forget(tp)
            self.metrics.forget_partition(*tp)
        self.health.assigned = bool(self.state.assignment)
