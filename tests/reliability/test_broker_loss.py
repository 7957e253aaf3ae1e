"""Fault 3: a 3-broker cluster (replication 3, min.insync.replicas 2, acks=all) loses a broker to
kill -9 mid-stream."""

import random
import shutil
import signal
import socket
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from faults import (Figures, numbered_inputs, output_high_watermark, seed,
                    wait_all_committed, wait_until)
from kafka_helpers import Topics
from stream_harness import produce

from stream_classifier.devtools.kafka_broker import LocalKafka

pytestmark = pytest.mark.kafka


def free_port_run(length: int) -> int:
    """A base port with `length` free ports after it."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000, 2)  # below the ephemeral range (32768-60999)
        try:
            for port in range(base, base + length):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no run of free ports")


@pytest.fixture
def cluster():
    home = Path(tempfile.mkdtemp(prefix="sc-kafka-cluster-"))
    kafka = LocalKafka.cluster(home=home, base_port=free_port_run(6))
    kafka.up()
    try:
        yield kafka
    finally:
        for node in kafka.nodes:  # no controlled shutdown: with a node gone it waits out its timeout
            node.stop(signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)


def busiest_leader(bootstrap: str, topics: list[str]) -> int:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)
    leaders = Counter(p.leader for t in topics for p in metadata.topics[t].partitions.values())
    return leaders.most_common(1)[0][0]


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_kill_9_of_a_broker_in_a_3_broker_cluster(cluster, rig_factory, mode):
    total = 6000
    topics = Topics(cluster.bootstrap)
    rig = rig_factory(cluster.bootstrap, topics, partitions=3, replication=3,
                      topic_config={"min.insync.replicas": "2"})
    figures = Figures("3 brokers, kill -9 one (RF 3, min.isr 2)", mode)
    produce(rig.bootstrap, rig.input, numbered_inputs(total))
    proc = rig.start(rig.settings(mode, session_timeout_ms=30000))
    wait_until(lambda: output_high_watermark(rig.bootstrap, rig.output) >= total // 4, 120, "no progress")
    time.sleep(random.Random(seed()).uniform(0, 0.5))
    victim = busiest_leader(rig.bootstrap, [rig.input, rig.output])
    cluster.stop_node(victim, kill=True)
    wait_all_committed(rig.bootstrap, rig.group, rig.input, 300, proc)
    assert proc.proc.poll() is None, "the consumer carried on without being restarted"
    assert proc.stop() == 0, proc.log_tail()

    figures.audit_run(rig.bootstrap, rig.input, rig.output, total)
    figures.report(killed_broker=victim)
    figures.assert_delivered()
