"""Faults 2 and 6 on a broker of the module's own (auto-creation off): a broker restart on the same
data directory mid-stream, and an output topic that does not exist for a while."""

import time

import pytest
from faults import (
    Figures,
    committed_now,
    numbered_inputs,
    output_high_watermark,
    wait_all_committed,
    wait_all_committed_or_one_watchdog_restart,
    wait_until,
)
from stream_harness import produce

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_broker_restart_mid_stream_loses_nothing(own_broker, own_topics, rig_factory, mode):
    """The consumer rides the restart out. In one CI run librdkafka never answered the commit in
    flight at the restart, and the partitions were gone from the process (their gauges were); the
    commit watchdog now ends such a process (exit 5) and its successor finishes: that restart is
    counted in the figures."""
    total = 6000
    rig = rig_factory(own_broker.bootstrap, own_topics, partitions=3)
    figures = Figures("broker restart (same data dir)", mode)
    produce(rig.bootstrap, rig.input, numbered_inputs(total))
    settings = rig.settings(mode, session_timeout_ms=30000)
    proc = rig.start(settings)
    wait_until(lambda: output_high_watermark(rig.bootstrap, rig.output) >= total // 4, 120, "no progress")
    down_at = time.monotonic()
    own_broker.stop_node(1)
    time.sleep(3)
    own_broker.start_node(1)
    down_s = time.monotonic() - down_at
    proc, restarts = wait_all_committed_or_one_watchdog_restart(rig, proc, settings, 300)
    assert proc.stop() == 0, proc.log_tail()

    figures.audit_run(rig.bootstrap, rig.input, rig.output, total)
    figures.report(broker_down_s=round(down_s, 1), consumer_restarts=restarts)
    figures.assert_delivered()


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_missing_output_topic_commits_nothing_until_it_exists(own_broker, own_topics, rig_factory, mode):
    total = 2000
    rig = rig_factory(own_broker.bootstrap, own_topics, partitions=3, create_output=False)
    figures = Figures("output topic missing for a while", mode)
    produce(rig.bootstrap, rig.input, numbered_inputs(total))
    proc = rig.start(rig.settings(mode))
    time.sleep(12)  # the consumer reads and classifies; every write to the output fails or waits
    before = committed_now(rig.bootstrap, rig.group, rig.input, rig.partitions)
    assert all(offset <= 0 for offset in before.values()), f"inputs committed without their outputs: {before}"
    assert proc.proc.poll() is None, proc.log_tail()

    rig.create_output()
    created_at = time.monotonic()
    wait_all_committed(rig.bootstrap, rig.group, rig.input, 300, proc)
    caught_up_s = time.monotonic() - created_at
    assert proc.stop() == 0, proc.log_tail()

    figures.audit_run(rig.bootstrap, rig.input, rig.output, total)
    figures.report(
        missing_s=12,
        committed_while_missing=sum(max(0, o) for o in before.values()),
        done_after_creation_s=round(caught_up_s, 1),
    )
    figures.assert_delivered()
