"""The commit watchdog on a real cluster: the group coordinator stops answering (SIGSTOP) while
the partitions the consumer reads and writes stay on brokers that do answer, so outputs keep being
acknowledged and commits do not. The process must say so on /healthz, exit 5, and a restart must
lose nothing."""

import os
import signal
import time
import urllib.request

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from conftest import local_cluster
from faults import (
    EXIT_COMMIT_STALLED,
    Figures,
    numbered_inputs,
    output_high_watermark,
    wait_all_committed,
    wait_until,
)
from kafka_helpers import Topics, unique_name
from stream_harness import produce

pytestmark = pytest.mark.kafka


def group_coordinator(bootstrap: str, group: str) -> int:
    """The broker id that coordinates `group` (a group that does not exist yet has one too)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 60
    while True:  # the offsets topic is created on first use: NOT_COORDINATOR until it has leaders
        try:
            return admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15).coordinator.id
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def healthz(proc) -> int | None:
    try:
        with urllib.request.urlopen(proc.metrics_url + "/healthz", timeout=1) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def watch_until_exit(proc, timeout: float) -> tuple[int, float, list]:
    """Poll /healthz until the process exits: its exit code (5 expected), the seconds it took,
    and the statuses seen, of which one must be 503."""
    started, statuses = time.monotonic(), []
    while proc.proc.poll() is None and time.monotonic() - started < timeout:
        statuses.append(healthz(proc))
        time.sleep(0.2)
    seconds = time.monotonic() - started
    code = proc.wait(10)
    assert code == EXIT_COMMIT_STALLED, proc.log_tail()
    assert 503 in statuses, f"/healthz never said unhealthy before the exit: {statuses[-20:]}"
    return code, seconds, statuses


@pytest.fixture
def cluster():
    """One replica per offsets partition: a group's coordinator does not move when its broker stops."""
    with local_cluster({"offsets.topic.replication.factor": "1"}) as kafka:
        yield kafka


def test_commit_watchdog_exits_5_when_commits_stop_and_the_restart_loses_nothing(cluster, rig_factory):
    total = 4000
    topics = Topics(cluster.bootstrap)
    group = unique_name("watchdog-group")
    coordinator = group_coordinator(cluster.bootstrap, group)
    others = [n.node_id for n in cluster.nodes if n.node_id != coordinator]
    rig = rig_factory(cluster.bootstrap, topics, partitions=3, placement=others)
    rig.group = group
    figures = Figures("group coordinator paused (SIGSTOP): commit watchdog")
    produce(rig.bootstrap, rig.input, numbered_inputs(total))
    settings = rig.settings(session_timeout_ms=60000, delivery={"commit_stall_timeout_s": 8})
    settings["delivery"]["flush_timeout_s"] = 4
    settings["batch"]["max_size"] = 16  # slower, so that inputs are left when it stops
    proc = rig.start(settings)
    wait_until(lambda: output_high_watermark(rig.bootstrap, rig.output) >= 200, 120, "no progress")

    paused = cluster.node(coordinator).pid()
    os.kill(paused, signal.SIGSTOP)
    code, exit_s, statuses = watch_until_exit(proc, 120)
    log = proc.log_path.read_text()
    assert "commit watchdog: committable offsets have not been committed" in log
    assert "commits stalled: stopping" in log

    os.kill(paused, signal.SIGCONT)
    restarted = rig.start(rig.settings(session_timeout_ms=60000))
    wait_all_committed(rig.bootstrap, rig.group, rig.input, 300, restarted)
    assert restarted.stop() == 0, restarted.log_tail()

    figures.audit_run(rig.bootstrap, rig.input, rig.output, total)
    figures.report(
        coordinator=coordinator, seconds_to_exit=round(exit_s, 1), exit_code=code, healthz_503_seen=503 in statuses
    )
    figures.assert_delivered()


def test_commit_watchdog_exits_5_when_transactions_stop_committing(own_broker, own_topics, rig_factory):
    """Exactly-once: no output topic (auto-creation off), so no transaction can commit. The
    watchdog ends the retries with exit 5; once the topic exists, a restart writes every output
    exactly once."""
    total = 1500
    rig = rig_factory(own_broker.bootstrap, own_topics, partitions=3, create_output=False)
    figures = Figures("output topic missing past the commit watchdog", "exactly_once")
    produce(rig.bootstrap, rig.input, numbered_inputs(total))
    settings = rig.settings("exactly_once", delivery={"commit_stall_timeout_s": 10})
    settings["delivery"]["flush_timeout_s"] = 4
    proc = rig.start(settings)
    code, exit_s, statuses = watch_until_exit(proc, 180)
    assert "commit watchdog: committable offsets have not been committed" in proc.log_path.read_text()

    rig.create_output()
    restarted = rig.start(rig.settings("exactly_once"))
    wait_all_committed(rig.bootstrap, rig.group, rig.input, 300, restarted)
    assert restarted.stop() == 0, restarted.log_tail()

    figures.audit_run(rig.bootstrap, rig.input, rig.output, total)
    figures.report(seconds_to_exit=round(exit_s, 1), exit_code=code, healthz_503_seen=503 in statuses)
    figures.assert_delivered()
