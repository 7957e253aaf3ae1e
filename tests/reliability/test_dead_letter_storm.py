"""Fault 5: dead-letter storms: 30% bad inputs, and 100% bad over the guard window."""

import pytest
from faults import Figures, dead_letter_sources, numbered_inputs, read_all, wait_all_committed
from kafka_helpers import committed_offsets, end_offsets
from stream_harness import produce

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_thirty_percent_bad_inputs(rig_factory, mode):
    total = 4000
    rig = rig_factory(partitions=3)
    figures = Figures("dead-letter storm, 30% bad", mode)
    records = numbered_inputs(total, bad_share=0.3)
    produce(rig.bootstrap, rig.input, records)
    proc = rig.start(rig.settings(mode))
    wait_all_committed(rig.bootstrap, rig.group, rig.input, 300, proc)
    assert proc.stop() == 0, proc.log_tail()

    inputs = {}
    for msg in read_all(rig.bootstrap, rig.input):
        inputs[(msg.partition(), msg.offset())] = msg.value().startswith(b"{broken")
    bad = {source for source, is_bad in inputs.items() if is_bad}
    good = set(inputs) - bad
    row = figures.audit_run(rig.bootstrap, rig.input, rig.output, total, expected=good)
    outputs = figures.outputs
    dead = dead_letter_sources(read_all(rig.bootstrap, rig.dead_letter))
    figures.report(bad_inputs=len(bad), dead_letters=sum(dead.values()), bad_not_dead_lettered=len(bad - set(dead)))
    assert 0.25 < len(bad) / total < 0.35
    assert set(outputs) == good and row["lost"] == 0, "every good input labeled"
    assert set(dead) == bad, "every bad input dead-lettered, nothing else"
    if mode == "exactly_once":
        assert row["duplicates"] == 0 and all(n == 1 for n in dead.values())


def test_all_bad_over_the_guard_window_stops_without_committing_the_window(rig_factory):
    # one key: one partition; 300 good records, then nothing but bad ones
    good, bad = 300, 700
    rig = rig_factory(partitions=3)
    figures = Figures("dead-letter storm, 100% bad over the guard window")
    records = [(b"k", value) for _, value in numbered_inputs(good, key=b"k")]
    records += [(b"k", f"{{broken json #{i}".encode()) for i in range(bad)]
    produce(rig.bootstrap, rig.input, records)
    settings = rig.settings(dead_letter_guard={"window": 100, "min_records": 50, "max_ratio": 0.5})
    proc = rig.start(settings, ready=False)
    code = proc.wait(180)
    partition = next(p for p, end in end_offsets(rig.bootstrap, rig.input).items() if end)
    committed = committed_offsets(rig.bootstrap, rig.group, rig.input)[partition]
    first_bad = good  # offsets 0..299 are good
    figures.audit_run(rig.bootstrap, rig.input, rig.output, good, expected={(partition, o) for o in range(good)})
    figures.report(exit_code=code, committed_offset=committed, first_bad_offset=first_bad)
    assert code == 3, "the guard ends the consumer with exit code 3"
    assert committed <= first_bad, "nothing past the first bad record of the window is committed"
    figures.assert_delivered()
