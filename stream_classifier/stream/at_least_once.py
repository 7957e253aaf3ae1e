"""At-least-once delivery (the default): auto-commit and auto offset store are off; an input's
offset becomes committable only after every record it caused (output or dead letter) is
acknowledged by the broker and it has left the dead-letter guard's window. Offsets are committed
asynchronously on an interval (one commit in flight at a time), synchronously on revoke and on
shutdown. A failed delivery replays its partition from the first undelivered input."""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from stream_classifier.observability import log
from stream_classifier.stream.commit_watchdog import Stall
from stream_classifier.stream.deadline import call_with_deadline
from stream_classifier.stream.delivery import DeliveryMode, LoopState, Outcome, TopicPartitionKey, partition_of
from stream_classifier.stream.kafka_clients import is_fatal

logger = logging.getLogger(__name__)


class AtLeastOnce(DeliveryMode):
    def __init__(self, state: LoopState):
        super().__init__(state)
        self.commit_outstanding = False  # an asynchronous commit whose result has not come back
        self.outstanding_since: float | None = None  # when it was sent (self.clock)
        self.outstanding_offsets: list[TopicPartition] = []
        self.clock = time.monotonic
        self.failed_partitions: set[TopicPartitionKey] = set()

    def start(self, consumer, clients) -> None:
        self.consumer = consumer
        self.producer = clients.producer(self.on_client_error)

    # ------------------------------------------------------------------ a processed batch
    def deliver(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self._deliver_one(outcome)

    def _deliver_one(self, outcome: Outcome) -> None:
        message = outcome.message
        tp = partition_of(message)
        if tp not in self.state.assignment:
            return  # revoked while the batch was in hand: the new owner re-reads it
        offset = message.offset()
        ts_type, ts = message.timestamp()
        dead = outcome.rejected is not None
        kind = "dead_letter" if dead else "output"
        topic = self.topics.dead_letter if dead else self.topics.output
        tracker, metrics, failed = self.state.tracker, self.metrics, self.failed_partitions
        generation = tracker.generation(tp)
        tracker.track(tp, offset, 1)

        def on_delivery(err, _msg, tp=tp, offset=offset, generation=generation, ts=ts if ts_type else None):
            if err is not None:
                metrics.delivery_failures.labels(kind=kind).inc()
                log(
                    logger,
                    logging.WARNING,
                    "delivery failed; the partition will be replayed",
                    topic=topic,
                    error=err.str(),
                    source=f"{tp[0]}[{tp[1]}]@{offset}",
                )
                progress = tracker.partitions.get(tp)
                if progress is not None and progress.generation == generation:
                    failed.add(tp)
                return
            tracker.ack(tp, offset, generation)
            metrics.produced.labels(topic=topic, kind=kind).inc()
            if ts is not None and not dead:
                metrics.end_to_end.observe(max(0.0, time.time() - ts / 1000.0))

        if dead:
            assert outcome.rejected is not None
            self.metrics.dead_letters.labels(reason=outcome.rejected.reason.value).inc()
        self._produce(outcome, on_delivery)

    def serve(self) -> None:
        super().serve()
        self._replay_failed_deliveries()

    def _replay_failed_deliveries(self) -> None:
        for tp in list(self.failed_partitions):
            self.failed_partitions.discard(tp)
            self.state.batcher.drop(lambda m, tp=tp: partition_of(m) != tp)
            seek_to = self.state.tracker.rewind(tp)
            if seek_to is not None and tp in self.state.assignment:
                try:
                    self.consumer.seek(TopicPartition(tp[0], tp[1], seek_to))
                except KafkaException as exc:
                    log(
                        logger, logging.WARNING, "seek for replay failed", partition=f"{tp[0]}[{tp[1]}]", error=str(exc)
                    )
                log(
                    logger,
                    logging.WARNING,
                    "replaying partition from its first undelivered input",
                    partition=f"{tp[0]}[{tp[1]}]",
                    offset=seek_to,
                )

    # ------------------------------------------------------------------ commits
    def commit(
        self,
        trigger: str = "periodic",
        wait: bool = True,
        only: set[TopicPartitionKey] | None = None,
        bounded: bool = False,
    ) -> None:
        """Commit what the tracker allows: synchronously on revoke and shutdown, asynchronously on
        the interval, and then only once the previous asynchronous commit's result is back.

        `bounded`: a synchronous commit given up after delivery.flush_timeout_s, a fatal error (the
        process stops; a restart replays from the committed offsets). The stop's commit is bounded:
        with the coordinator gone it would wait for good (docs/reliability.md, fault 8). A revoke's
        is not: it runs inside the rebalance callback, where a commit made on another thread never
        returns (measured: 30 s and more, against 0.03 s on the callback's own thread), and a
        revoke comes right after the coordinator spoke.

        Kafka keeps the last offset commit that reaches the coordinator, and librdkafka re-sends
        a commit that was in flight when the coordinator's connection dropped (or that waited for
        a coordinator) after the commits issued later. With several commits in flight across a
        broker restart, an old one landed last and moved the group's offset back for good (seen:
        committed 1228 after 2167 had succeeded), while this loop, told 2167 succeeded, had
        nothing newer to send. One commit in flight keeps the commits in order."""
        if not wait and self.commit_outstanding:
            log(
                logger,
                logging.DEBUG,
                "commit decision: the previous asynchronous commit has no result yet",
                trigger=trigger,
            )
            return
        state = self.state
        held = state.guard.held_from()
        offsets, decision = [], {}
        for tp in sorted(only if only is not None else state.assignment):
            done = state.tracker.committable(tp)
            offset = state.tracker.committable(tp, held.get(tp))
            committed = state.last_committed.get(tp, -1)
            if offset is not None:
                state.committable(tp, offset)
            send = offset is not None and offset > committed
            decision[f"{tp[0]}[{tp[1]}]"] = {
                "delivered": done,
                "held_from": held.get(tp),
                "committed": committed,
                "sent": offset if send else None,
            }
            if send:
                offsets.append(TopicPartition(tp[0], tp[1], offset))
        if logger.isEnabledFor(logging.DEBUG):
            log(logger, logging.DEBUG, "commit decision", trigger=trigger, partitions=decision)
        if not offsets:
            return
        self.metrics.commit_requests.labels(trigger=trigger).inc()
        try:
            if wait and bounded:
                committed = self._commit_within_deadline(offsets)
            else:
                committed = self.consumer.commit(offsets=offsets, asynchronous=not wait)
        except KafkaException as exc:
            self._commit_result(exc.args[0], offsets)
            return
        if wait:
            self._commit_result(None, committed if committed is not None else offsets)
        else:
            self.commit_outstanding = True
            self.outstanding_since, self.outstanding_offsets = self.clock(), offsets

    def _commit_within_deadline(self, offsets: list[TopicPartition]) -> list[TopicPartition] | None:
        """A synchronous commit given up after delivery.flush_timeout_s (a fatal _TIMED_OUT error)."""
        return call_with_deadline(
            "commit", self.settings.delivery.flush_timeout_s, self.consumer.commit, offsets=offsets, asynchronous=False
        )

    def on_commit_result(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's on_commit callback, served by consume(): asynchronous commits only (a
        synchronous commit returns its own result)."""
        self._forget_outstanding()
        self._commit_result(err, partitions)

    def _forget_outstanding(self) -> None:
        self.commit_outstanding = False
        self.outstanding_since, self.outstanding_offsets = None, []

    def _commit_result(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The result of a commit, synchronous or not (partitions carry their own errors)."""
        state = self.state
        failed = [tp for tp in partitions if tp.error is not None]
        if err is not None or failed:
            self.metrics.commits.labels(result="failure").inc()
            log(
                logger,
                logging.WARNING,
                "commit failed",
                error=err.str() if err is not None else None,
                partitions=[f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed],
            )
            if err is not None and is_fatal(err):
                state.fatal_error = err
        else:
            self.metrics.commits.labels(result="success").inc()
        if err is not None:
            return
        for tp in partitions:
            key = (tp.topic, tp.partition)
            # an asynchronous result may come back after its partition was revoked
            if tp.error is not None or key not in state.assignment:
                continue
            state.watchdog.committed(key, time.monotonic())
            if tp.offset > state.last_committed.get(key, -1):
                state.committed(key, tp.offset)

    def final_commit(self) -> None:
        self._await_outstanding_commit(self.settings.delivery.flush_timeout_s)
        self.commit(trigger="shutdown", bounded=True)

    def _await_outstanding_commit(self, timeout: float) -> None:
        """Serve the consumer's queue until the asynchronous commit in flight has its result, so
        that the final synchronous commit cannot be overtaken by it (what is read is dropped:
        nothing past the tracker's committable offsets is committed)."""
        deadline = time.monotonic() + timeout
        while self.commit_outstanding and time.monotonic() < deadline:
            self.consumer.consume(num_messages=1, timeout=0.1)
        if self.commit_outstanding:
            log(logger, logging.WARNING, "the last asynchronous commit has no result yet", waited_s=timeout)

    # ------------------------------------------------------------------ the commit watchdog
    def watch_commits(self, now: float) -> None:
        """A partition behind its committable offset for longer than delivery.commit_stall_timeout_s
        gets one synchronous commit bounded by flush_timeout_s; if that fails too, /healthz turns
        unhealthy and the process exits 5. Nothing is lost: a restart replays from the committed
        offsets.

        An asynchronous commit without a result for as long is a stall too, even when no partition
        is behind. In one CI run, after a broker restart, the commit in flight had no result 300 s
        later and the process held no partition any more, so nothing was behind and the loop sat
        idle; librdkafka starts no fetcher for a new assignment while one of its commits is
        outstanding (rdkafka_assignment.c), so waiting would not end it."""
        state = self.state
        held = state.guard.held_from()
        for tp in state.assignment:
            state.watchdog.observe(
                tp, state.tracker.committable(tp, held.get(tp)), state.last_committed.get(tp, -1), now
            )
        stalls = state.watchdog.stalled(now)
        unanswered = self._unanswered_commit(now)
        if not stalls and unanswered is None:
            return
        if stalls:
            self._report_stalls(stalls)
        if unanswered is not None:
            log(logger, logging.WARNING, "commit watchdog: an asynchronous commit has no result", detail=unanswered)
            stalls = stalls or state.watchdog.behind(now)
        if stalls and self._commit_bounded(stalls):
            self.metrics.commit_stalls.labels(outcome="recovered").inc(len(stalls))
            log(
                logger,
                logging.WARNING,
                "commit watchdog: the synchronous retry committed",
                partitions=[s.describe() for s in stalls],
            )
            return
        self._stalled(stalls, also=unanswered)

    def _unanswered_commit(self, now: float) -> str | None:
        """The asynchronous commit in flight, described, once it has waited past the stall timeout."""
        if not self.commit_outstanding or self.outstanding_since is None:
            return None
        waited = now - self.outstanding_since
        if waited <= self.settings.delivery.commit_stall_timeout_s:
            return None
        sent = ", ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in self.outstanding_offsets)
        assigned = ", ".join(f"{t}[{p}]" for t, p in sorted(self.state.assignment)) or "none"
        return f"an asynchronous commit ({sent}) has had no result for {waited:.0f}s; assigned: {assigned}"

    def _commit_bounded(self, stalls: list[Stall]) -> bool:
        """One synchronous commit of the stalled partitions, given up after flush_timeout_s."""
        offsets = [TopicPartition(s.partition[0], s.partition[1], s.committable) for s in stalls]
        self.metrics.commit_requests.labels(trigger="watchdog").inc()
        try:
            committed = self._commit_within_deadline(offsets)
        except KafkaException as exc:
            self._commit_result(exc.args[0], offsets)
            return False
        self._commit_result(None, committed if committed is not None else offsets)
        recovered = all(self.state.last_committed.get(s.partition, -1) >= s.committable for s in stalls)
        if recovered:
            # the asynchronous commit it replaces has been waiting longer than librdkafka keeps a
            # commit waiting for a coordinator (session.timeout.ms): periodic commits go on
            self._forget_outstanding()
        return recovered

    # ------------------------------------------------------------------ rebalance
    def finish_revoke(self, revoked: set[TopicPartitionKey], commit: bool) -> None:
        """Deliver what is in flight, then commit the revoked partitions' progress."""
        self.flush()
        if commit:
            self.commit(only=revoked, trigger="revoke")
        for tp in revoked:
            self.failed_partitions.discard(tp)
