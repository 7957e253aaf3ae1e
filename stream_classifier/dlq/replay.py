"""`stream-classifier dlq replay`: selected dead letters back into the input topic after a fix.

Each replayed record is the dead letter's key and value bytes, unchanged, with the input's own
headers and sc.replay.{id,count,of}. What keeps replays from looping or repeating:
- the topic is read up to its end offsets as they were when the replay began, so the dead letters
  a replay causes are never read by the same replay;
- a dead letter that has already been replayed `max_replays` times (its sc.replay.count, which the
  classifier keeps when it dead-letters the replayed input again) is skipped and reported;
- per reason, a cursor (the committed offsets of consumer group `<cursor_group>.<reason>`) marks
  how far that reason has been replayed: a second `dlq replay --reason R` replays only dead letters
  of R that arrived since. `from_beginning` ignores the cursor (a deliberate second replay).
The cursor moves only after every replayed record is acknowledged; a replay that dies before that
replays the same records again when rerun (at-least-once, like the classifier's own mode).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Producer, TopicPartition

from stream_classifier.dlq.headers import DeadLetter, replay_headers
from stream_classifier.stream.topic_snapshot import read, snapshot


class ReplayError(RuntimeError):
    pass


@dataclass
class ReplayReport:
    replay_id: str
    dead_letter_topic: str
    to: str
    reasons: list[str]
    dry_run: bool
    replayed: Counter = field(default_factory=Counter)
    skipped_replayed_too_often: Counter = field(default_factory=Counter)
    skipped_before_cursor: Counter = field(default_factory=Counter)
    cursors: dict[str, dict[str, int]] = field(default_factory=dict)  # reason -> partition -> offset after

    def as_dict(self) -> dict:
        return {
            "replay_id": self.replay_id,
            "dead_letter_topic": self.dead_letter_topic,
            "to": self.to,
            "reasons": self.reasons,
            "dry_run": self.dry_run,
            "replayed": sum(self.replayed.values()),
            "replayed_by_reason": dict(self.replayed),
            "skipped_replayed_too_often": dict(self.skipped_replayed_too_often),
            "skipped_before_cursor": dict(self.skipped_before_cursor),
            "cursors": self.cursors,
        }


def cursor_group(prefix: str, reason: str) -> str:
    return f"{prefix}.{reason}"


def read_cursor(consumer: Consumer, topic: str, partitions: list[int], timeout: float = 30) -> dict[int, int]:
    committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=timeout)
    return {tp.partition: tp.offset for tp in committed if tp.offset >= 0}


def replay(
    dead_letter_topic: str,
    to: str,
    reasons: list[str],
    cursor_prefix: str,
    make_consumer,
    producer: Producer | None,
    *,
    max_replays: int = 1,
    from_beginning: bool = False,
    dry_run: bool = False,
    flush_timeout: float = 60.0,
) -> ReplayReport:
    """make_consumer(group_id or None) -> Consumer; producer may be None for a dry run."""
    if to == dead_letter_topic:
        raise ReplayError(f"--to {to!r} is the dead-letter topic itself: replaying into it would loop")
    report = ReplayReport(
        uuid.uuid4().hex[:12] + f"-{int(time.time())}", dead_letter_topic, to, sorted(set(reasons)), dry_run
    )
    cursor_clients = {reason: make_consumer(cursor_group(cursor_prefix, reason)) for reason in report.reasons}
    data = make_consumer(None)
    try:
        snap = snapshot(data, dead_letter_topic)
        partitions = sorted(snap.ends)
        cursors = {
            reason: ({} if from_beginning else read_cursor(client, dead_letter_topic, partitions))
            for reason, client in cursor_clients.items()
        }
        start = {p: min(cursors[r].get(p, 0) for r in report.reasons) for p in partitions}
        snap = snapshot(data, dead_letter_topic, start=start)
        failures: list[str] = []

        def on_delivery(err, _msg):
            if err is not None:
                failures.append(err.str())

        for dead in map(DeadLetter.from_message, read(data, snap)):
            if dead.reason not in cursors:
                continue
            if dead.offset < cursors[dead.reason].get(dead.partition, 0):
                report.skipped_before_cursor[dead.reason] += 1
                continue
            if dead.replay_count >= max_replays:
                report.skipped_replayed_too_often[dead.reason] += 1
                continue
            report.replayed[dead.reason] += 1
            if not dry_run:
                _produce(producer, to, dead, report.replay_id, on_delivery)
        if not dry_run:
            left = producer.flush(flush_timeout)
            if left or failures:
                raise ReplayError(
                    f"{left} replayed records unacknowledged after {flush_timeout:.0f}s, "
                    f"{len(failures)} failed ({failures[:3]}); the cursors did not move, "
                    "a rerun replays them again"
                )
        for reason, client in cursor_clients.items():
            moved = [
                TopicPartition(dead_letter_topic, p, max(snap.ends[p], cursors[reason].get(p, 0))) for p in partitions
            ]
            if not dry_run and any(tp.offset > 0 for tp in moved):
                client.commit(offsets=moved, asynchronous=False)
            report.cursors[reason] = {str(tp.partition): tp.offset for tp in moved}
    finally:
        data.close()
        for client in cursor_clients.values():
            client.close()
    return report


def _produce(producer: Producer, topic: str, dead: DeadLetter, replay_id: str, on_delivery) -> None:
    while True:
        try:
            producer.produce(
                topic, key=dead.key, value=dead.value, headers=replay_headers(dead, replay_id), on_delivery=on_delivery
            )
            return
        except BufferError:
            producer.poll(0.1)


def format_replay(report: ReplayReport) -> str:
    d = report.as_dict()
    verb = "would replay" if report.dry_run else "replayed"
    lines = [
        f"{verb} {d['replayed']} dead letters from {report.dead_letter_topic} into {report.to} "
        f"(replay id {report.replay_id})"
    ]
    for reason in report.reasons:
        lines.append(
            f"  {reason}: {verb} {report.replayed[reason]}, "
            f"skipped as already replayed {report.skipped_replayed_too_often[reason]}, "
            f"before the cursor {report.skipped_before_cursor[reason]}; "
            f"cursor now {report.cursors.get(reason)}"
        )
    return "\n".join(lines)
