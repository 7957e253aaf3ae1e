"""Fault 1: kill -9 of the consumer at 10 random moments of a 20,000-message run."""

import random
import time

import pytest
from faults import Figures, numbered_inputs, output_high_watermark, random_moments, seed, wait_all_committed, wait_until
from kafka_helpers import free_ports
from stream_harness import produce

pytestmark = pytest.mark.kafka

TOTAL = 20_000
KILLS = 10


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_kill_9_ten_times_loses_nothing(rig_factory, mode):
    rig = rig_factory(partitions=3)
    figures = Figures("consumer kill -9 x10", mode)
    produce(rig.bootstrap, rig.input, numbered_inputs(TOTAL))
    settings = rig.settings(mode, delivery={"commit_interval_s": 0.5})
    pause = random.Random(seed())
    proc = rig.start(settings)
    in_transaction = 0
    for n, moment in enumerate(random_moments(KILLS, TOTAL // 20, TOTAL * 9 // 10)):
        wait_until(
            lambda moment=moment: output_high_watermark(rig.bootstrap, rig.output) >= moment,
            300,
            f"no progress to {moment} outputs",
            interval=0.05,
        )
        if mode == "exactly_once" and n % 2:
            # a kill from outside almost never lands in the few ms between a transaction's
            # writes and its commit: half of them the process deals itself, right there
            proc.kill()
            proc = rig.start(settings, env={"SC_FAULT_KILL_IN_TRANSACTION": str(pause.randint(1, 5))}, ready=False)
            assert proc.wait(120) == -9, proc.log_tail()
            in_transaction += 1
        else:
            time.sleep(pause.uniform(0, 0.4))  # inside inference, a delivery, a commit, ...
            proc.kill()
        proc = rig.start(settings)
    wait_all_committed(rig.bootstrap, rig.group, rig.input, 300, proc)
    assert proc.stop() == 0, proc.log_tail()

    row = figures.audit_run(rig.bootstrap, rig.input, rig.output, TOTAL)
    figures.report(
        kills=KILLS + in_transaction,
        **({"killed_inside_a_transaction": in_transaction} if mode == "exactly_once" else {}),
    )
    figures.assert_delivered()
    if mode == "exactly_once":
        assert row["outputs"] == TOTAL
        assert row["aborted_writes"] > 0, "the aborted transactions' records are in the log, unread"


def test_a_second_process_with_the_same_instance_id_fences_the_first(rig_factory):
    """The zombie case of exactly-once: the newer process wins, the older exits, no duplicates."""
    total = 4000
    rig = rig_factory(partitions=3)
    figures = Figures("zombie: same group.instance.id started twice", "exactly_once")
    produce(rig.bootstrap, rig.input, numbered_inputs(total))
    settings = rig.settings("exactly_once")
    older = rig.start(settings)
    wait_until(lambda: output_high_watermark(rig.bootstrap, rig.output) >= total // 5, 120, "no progress")
    newer = rig.start({**settings, "metrics": {**settings["metrics"], "port": free_ports(1)[0]}})
    older_code = older.wait(60)
    wait_all_committed(rig.bootstrap, rig.group, rig.input, 300, newer)
    fenced = newer.metric_sum("sc_transactions_total", result="fenced")
    assert newer.stop() == 0, newer.log_tail()

    figures.audit_run(rig.bootstrap, rig.input, rig.output, total)
    figures.report(older_exit_code=older_code, newer_producer_restarts=fenced)
    assert older_code == 4, "the fenced process stops with the Kafka exit code"
    figures.assert_delivered()
