"""The offset tracker against inputs handed over twice, and the commit watchdog's clock."""

from stream_classifier.stream.commit_watchdog import CommitWatchdog
from stream_classifier.stream.offsets import OffsetTracker

TP = ("in", 0)
OTHER = ("in", 1)


def test_an_offset_handed_over_again_is_not_new_until_the_consumer_is_sent_back():
    t = OffsetTracker()
    assert [t.accept(TP, o) for o in (0, 1, 2)] == [True, True, True]
    assert [t.accept(TP, o) for o in (1, 2, 3)] == [False, False, True], "1 and 2 again: already consumed"
    assert t.accept(OTHER, 0), "partitions are independent"
    t.seek(TP, 1)
    assert t.accept(TP, 1) and t.accept(TP, 2)
    t.seek(TP, None)  # a logical offset (beginning): whatever comes next is new
    assert t.accept(TP, 0)


def test_a_replay_after_a_failed_delivery_is_new_again():
    t = OffsetTracker()
    for offset in (5, 6, 7):
        assert t.accept(TP, offset)
        t.track(TP, offset, 1)
    t.ack(TP, 5, t.generation(TP))
    assert t.rewind(TP) == 6
    assert t.accept(TP, 6) and t.accept(TP, 7)


def test_an_offset_tracked_twice_while_pending_does_not_hold_the_partition_back():
    """What wedged a partition for good: the second track of a pending offset left it in the
    order queue with no pending entry once acked, so the committable offset never moved again
    although nothing was in flight."""
    t = OffsetTracker()
    t.assign(TP)
    gen = t.generation(TP)
    for offset in (0, 1, 2):
        t.track(TP, offset, 1)
    t.track(TP, 1, 1)  # handed over again while its output is unacknowledged
    for offset in (0, 1, 2, 1):  # every produced record is acknowledged
        t.ack(TP, offset, gen)
    assert t.in_flight() == 0
    assert t.committable(TP) == 3


def test_an_offset_tracked_again_after_it_was_delivered_is_ignored():
    t = OffsetTracker()
    t.assign(TP)
    gen = t.generation(TP)
    for offset in (0, 1):
        t.track(TP, offset, 1)
        t.ack(TP, offset, gen)
    t.track(TP, 2, 1)
    t.track(TP, 0, 1)  # already delivered and committable
    t.ack(TP, 2, gen)
    t.ack(TP, 0, gen)
    assert t.committable(TP) == 3 and t.in_flight() == 0


def test_an_older_offset_tracked_late_waits_for_its_own_acknowledgement():
    t = OffsetTracker()
    t.assign(TP)
    gen = t.generation(TP)
    for offset in (0, 2, 3):
        t.track(TP, offset, 1)
    t.track(TP, 1, 1)  # handed over after 2 and 3
    for offset in (0, 2, 3):
        t.ack(TP, offset, gen)
    assert t.committable(TP) == 1, "1 is still in flight"
    t.ack(TP, 1, gen)
    assert t.committable(TP) == 4 and t.in_flight() == 0


def test_watchdog_reports_a_partition_behind_for_longer_than_the_timeout():
    w = CommitWatchdog(timeout_s=60)
    w.observe(TP, committable=100, committed=40, now=0)
    w.observe(OTHER, committable=10, committed=10, now=0)
    assert w.stalled(now=60) == []
    w.observe(TP, committable=180, committed=40, now=61)
    [stall] = w.stalled(now=61)
    assert (stall.partition, stall.committable, stall.committed) == (TP, 180, 40)
    assert stall.behind_s == 61 and "committable 180, committed 40" in stall.describe()


def test_watchdog_clock_restarts_on_each_successful_commit_and_stops_when_caught_up():
    w = CommitWatchdog(timeout_s=60)
    w.observe(TP, 100, 40, now=0)
    w.committed(TP, now=50)  # a steady stream: always behind, but committing
    w.observe(TP, 200, 100, now=100)
    assert w.stalled(now=100) == []
    assert [s.partition for s in w.stalled(now=111)] == [TP]
    w.observe(TP, 200, 200, now=112)
    assert w.stalled(now=500) == []
    w.observe(TP, 300, 200, now=600)
    w.forget(TP)  # revoked
    assert w.stalled(now=1000) == []
