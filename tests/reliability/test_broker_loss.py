"""Fault 3: a 3-broker cluster (replication 3, min.insync.replicas 2, acks=all) loses a broker to
kill -9 mid-stream."""

import random
import time
from collections import Counter

import pytest
from confluent_kafka.admin import AdminClient
from conftest import local_cluster
from faults import Figures, numbered_inputs, output_high_watermark, seed, wait_all_committed, wait_until
from kafka_helpers import Topics
from stream_harness import produce

pytestmark = pytest.mark.kafka


@pytest.fixture
def cluster():
    with local_cluster() as kafka:
        yield kafka


def busiest_leader(bootstrap: str, topics: list[str]) -> int:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)
    leaders = Counter(p.leader for t in topics for p in metadata.topics[t].partitions.values())
    return leaders.most_common(1)[0][0]


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_kill_9_of_a_broker_in_a_3_broker_cluster(cluster, rig_factory, mode):
    total = 6000
    topics = Topics(cluster.bootstrap)
    rig = rig_factory(cluster.bootstrap, topics, partitions=3, replication=3, topic_config={"min.insync.replicas": "2"})
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
