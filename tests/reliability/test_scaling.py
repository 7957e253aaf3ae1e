"""Fault 4: scale out and in mid-stream: one consumer, then three, then two, in one group over 6
partitions."""

import pytest
from faults import Figures, numbered_inputs, output_high_watermark, wait_all_committed, wait_until
from stream_harness import produce

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_one_then_three_then_two_consumers(rig_factory, mode):
    total = 12_000
    rig = rig_factory(partitions=6)
    figures = Figures("scale 1 -> 3 -> 2 consumers, 6 partitions", mode)
    produce(rig.bootstrap, rig.input, numbered_inputs(total))

    # at-least-once with dynamic members (a stopped one leaves the group at once);
    # exactly-once needs static ones (group.instance.id makes the transactional.id)
    def settings(n):
        return rig.settings(mode, instance=f"c{n}" if mode == "exactly_once" else None)

    def progress_at_least(n):
        wait_until(lambda: output_high_watermark(rig.bootstrap, rig.output) >= n, 300, f"no progress to {n}")

    first = rig.start(settings(1))
    progress_at_least(total // 6)
    second, third = rig.start(settings(2), ready=False), rig.start(settings(3), ready=False)
    second.wait_ready(), third.wait_ready()
    progress_at_least(total // 2)
    assert third.stop() == 0, third.log_tail()
    wait_all_committed(rig.bootstrap, rig.group, rig.input, 300, first)
    for proc in (first, second):
        assert proc.stop() == 0, proc.log_tail()

    figures.audit_run(rig.bootstrap, rig.input, rig.output, total)
    figures.report(consumers="1 -> 3 -> 2")
    figures.assert_delivered()
