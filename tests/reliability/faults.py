"""Shared pieces of the fault-injection suite: inputs, progress probes, loss and duplicate counts,
and the figures each test prints (and appends to results/reliability/figures.jsonl)."""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from kafka_helpers import end_offsets, unique_name
from stream_harness import REPO, ClassifierProcess, settings_for, wait_until

FIGURES_FILE = Path(os.environ.get("SC_RELIABILITY_FIGURES", REPO / "results" / "reliability" / "figures.jsonl"))
LABELS = REPO / "configs" / "labels" / "sentiment.yaml"
WORDS = ["好评", "差评", "物流很快", "质量一般", "客服态度差", "非常满意", "不推荐", "还会再买"]


def seed() -> int:
    """SC_FAULT_SEED picks the fault moments (the soak runs set a new one each round)."""
    return int(os.environ.get("SC_FAULT_SEED", "20261125"))


def numbered_inputs(count: int, bad_share: float = 0.0, key: bytes | None = None) -> list[tuple[bytes, bytes]]:
    """Short review-like texts with ids 0..count-1; a `bad_share` of them (seeded) are not JSON."""
    rng = random.Random(seed())
    records = []
    for i in range(count):
        key_i = key or f"user-{i % 97}".encode()
        if rng.random() < bad_share:
            records.append((key_i, f"{{broken json #{i}".encode()))
        else:
            text = f"{WORDS[i % len(WORDS)]} #{i}"
            records.append((key_i, json.dumps({"id": i, "text": text}, ensure_ascii=False).encode()))
    return records


def read_all(bootstrap: str, topic: str, timeout: float = 120, committed_only: bool = True) -> list:
    """Every record of `topic`, read to the end of each partition (read_committed unless told)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique_name("audit"),
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed" if committed_only else "read_uncommitted",
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records, at_end, deadline = [], set(), time.monotonic() + timeout
        while len(at_end) < len(partitions):
            assert time.monotonic() < deadline, f"{topic}: not read to the end within {timeout}s"
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error() is None:
                    records.append(msg)
                elif msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
        return records
    finally:
        consumer.close()


def source_counts(records) -> dict[tuple[int, int], int]:
    """(input partition, input offset) -> how many output records name it as their source."""
    counts: dict[tuple[int, int], int] = {}
    for msg in records:
        source = json.loads(msg.value())["source"]
        key = (source["partition"], source["offset"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def dead_letter_sources(records) -> dict[tuple[int, int], int]:
    counts: dict[tuple[int, int], int] = {}
    for msg in records:
        headers = dict(msg.headers())
        key = (int(headers["sc.source.partition"]), int(headers["sc.source.offset"]))
        counts[key] = counts.get(key, 0) + 1
    return counts


def output_high_watermark(bootstrap: str, topic: str) -> int:
    """Records written to `topic` so far (-1 while a broker fault keeps the answer away)."""
    try:
        return sum(end_offsets(bootstrap, topic).values())
    except KafkaException:
        return -1


class OffsetProbe:
    """One plain consumer, never subscribed, that reads a topic's end offsets and a group's
    committed offsets as often as asked, on the calling thread.

    Not an AdminClient, nor a client per probe: admin results are delivered on librdkafka's
    background thread, where a garbage collection may destroy another client (what
    confluent-kafka-python's own tests ran into, PR #2129), and the pytest process died with
    SIGSEGV in 3 of 29 soak rounds while it polled that way, once every second."""

    def __init__(self, bootstrap: str, group: str | None = None):
        self.bootstrap = bootstrap
        # read_uncommitted: OffsetFetch without require_stable, so an open transaction does not
        # hold the answer back (its pending offsets do not count)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group or unique_name("probe"),
                "enable.auto.commit": False,
                "isolation.level": "read_uncommitted",
            }
        )

    def end_offsets(self, topic: str) -> dict[int, int]:
        return end_offsets(self.bootstrap, topic, self.consumer)

    def committed(self, topic: str, partitions: int) -> dict[int, int]:
        tps = self.consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}

    def close(self) -> None:
        self.consumer.close()

    def __enter__(self) -> OffsetProbe:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def committed_now(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offsets (pending transactional commits do not count)."""
    with OffsetProbe(bootstrap, group) as probe:
        return probe.committed(topic, partitions)


def wait_all_committed(bootstrap: str, group: str, topic: str, timeout: float, proc=None) -> None:
    with OffsetProbe(bootstrap, group) as probe:

        def done() -> bool:
            if proc is not None and proc.proc.poll() is not None:
                raise AssertionError(f"the consumer exited with {proc.proc.returncode}:\n{proc.log_tail()}")
            try:  # while a broker is down, partition leaders and the group coordinator move
                ends = probe.end_offsets(topic)
                return probe.committed(topic, len(ends)) == ends
            except KafkaException:
                return False

        wait_until(done, timeout, f"committed offsets of {group} did not reach the end offsets of {topic}", interval=1)


EXIT_COMMIT_STALLED = 5


def wait_all_committed_or_one_watchdog_restart(rig, proc: ClassifierProcess, settings: dict, timeout: float):
    """Wait until the group's offsets reach the end. A process that the commit watchdog ends
    (exit 5: a commit librdkafka never answered) is started again once, as an orchestrator
    would, and must finish; any other exit, or a second stall, fails the test. Returns the process
    that finished and how many restarts it took (0 or 1)."""
    deadline = time.monotonic() + timeout
    restarts = 0
    while True:
        try:
            wait_all_committed(rig.bootstrap, rig.group, rig.input, max(1.0, deadline - time.monotonic()), proc)
            return proc, restarts
        except AssertionError:
            if restarts or proc.proc.poll() != EXIT_COMMIT_STALLED:
                raise
            assert "commits stalled: stopping" in proc.log_path.read_text(), proc.log_tail()
            restarts += 1
            proc = rig.start(settings)


@dataclass
class Figures:
    """What a fault test reports: printed, and appended as one JSON line for docs/reliability.md and soak."""

    test: str
    mode: str = "at_least_once"
    values: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)  # (input partition, offset) -> outputs, after audit_run
    started: float = field(default_factory=time.monotonic)

    def audit(self, inputs: int, outputs: dict[tuple[int, int], int], expected: set[tuple[int, int]]) -> dict:
        lost = len(expected - set(outputs))
        duplicates = sum(n - 1 for n in outputs.values() if n > 1)
        self.values.update(messages_in=inputs, outputs=sum(outputs.values()), lost=lost, duplicates=duplicates)
        return self.values

    def audit_run(
        self,
        bootstrap: str,
        input_topic: str,
        output_topic: str,
        inputs: int,
        expected: set[tuple[int, int]] | None = None,
    ) -> dict:
        """Read the outputs back and count lost and duplicated inputs (and, exactly-once, aborted
        writes); `expected` defaults to every input record."""
        self.outputs = outputs = source_counts(read_all(bootstrap, output_topic))
        self.audit(inputs, outputs, expected if expected is not None else all_sources(bootstrap, input_topic))
        if self.mode == "exactly_once":
            self.count_aborted(bootstrap, output_topic)
        return self.values

    def assert_delivered(self) -> None:
        """The promise of the mode: nothing lost; exactly-once: nothing duplicated either."""
        assert self.values["lost"] == 0, self.values
        if self.mode == "exactly_once":
            assert self.values["duplicates"] == 0, self.values

    def count_aborted(self, bootstrap: str, topic: str) -> None:
        """Exactly-once: records written by transactions that were aborted (invisible to read_committed)."""
        everything = len(read_all(bootstrap, topic, committed_only=False))
        self.values["aborted_writes"] = everything - self.values["outputs"]

    def report(self, **extra) -> dict:
        self.values.update(extra)
        row = {
            "test": self.test,
            "mode": self.mode,
            **self.values,
            "seconds": round(time.monotonic() - self.started, 1),
            "seed": seed(),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        print("\nFIGURES " + json.dumps(row, ensure_ascii=False))
        FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
        with FIGURES_FILE.open("a") as out:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return row


def all_sources(bootstrap: str, topic: str) -> set[tuple[int, int]]:
    return {(p, o) for p, end in end_offsets(bootstrap, topic).items() for o in range(end)}


def random_moments(count: int, low: int, high: int) -> list[int]:
    return sorted(random.Random(seed()).sample(range(low, high), count))


__all__ = ["ClassifierProcess", "settings_for", "wait_until", "LABELS"]
