"""The offset tracker driven as the at-least-once loop drives it, in any interleaving.

The state machine plays the consumer, the batcher and the producer's delivery reports around an
OffsetTracker, with the same glue as AtLeastOnce and Pipeline: inputs handed over (accept), some
handed over again after a fetch restarted from an older position, delivered in consumption order
(track), acknowledged or failed in any order, a failed partition replayed from its first
undelivered input (rewind), partitions revoked after a flush, lost without one, assigned again.
A small model beside it says what must hold: the committable offset never passes an input handed
over in this assignment whose output no broker has acknowledged (what at-least-once promises),
never goes backwards while the partition is assigned, and the in-flight count is the inputs tracked
and not yet passed, each once.

The cases are the same on every run (derandomize: CI must not be flaky); HYPOTHESIS_EXPLORE=1
draws new ones each run, to look for bugs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from stream_classifier.stream.offsets import OffsetTracker

EXPLORE = bool(os.environ.get("HYPOTHESIS_EXPLORE"))
picks = st.integers(0, 1000)  # an index into a list that is only known when the rule runs


@dataclass(frozen=True)
class ProducedRecord:
    """An output or dead letter whose delivery report has not come back."""

    partition: tuple[str, int]
    offset: int
    generation: int


@dataclass
class Assignment:
    """What the model knows of a partition while this process owns it."""

    position: int  # the next offset the consumer hands over
    start: int  # where the assignment started: a fetch never restarts before it
    handed_over: int | None = None  # the offset after the last accepted one (None: anything is new)
    accepted: set[int] = field(default_factory=set)  # every input accepted in this assignment
    in_hand: list[int] = field(default_factory=list)  # accepted, in the batcher, not yet delivered
    tracked: set[int] = field(default_factory=set)  # tracked since the assignment or the last rewind
    committable: int | None = None  # the last committable offset seen


class AtLeastOnceLoop(RuleBasedStateMachine):
    PARTITIONS = [("in", 0), ("in", 1)]

    def __init__(self) -> None:
        super().__init__()
        self.tracker = OffsetTracker()
        self.assigned: dict[tuple[str, int], Assignment] = {}
        self.committed: dict[tuple[str, int], int] = {}  # the group's offsets, kept across assignments
        self.acknowledged: set[tuple[tuple[str, int], int]] = set()  # inputs with an output the broker has
        self.produced: list[ProducedRecord] = []
        self.failed: set[tuple[str, int]] = set()  # AtLeastOnce.failed_partitions
        self.gaps: set[int] = set()

    @initialize(gaps=st.sets(st.integers(0, 40), max_size=8))
    def the_log_has_gaps(self, gaps):
        """Offsets no record has (transaction markers, compacted away); the same for every fetch."""
        self.gaps = gaps

    def _owned(self, pick: int) -> tuple[tuple[str, int], Assignment]:
        tp = sorted(self.assigned)[pick % len(self.assigned)]
        return tp, self.assigned[tp]

    # ------------------------------------------------------------------ the consumer
    @precondition(lambda self: len(self.assigned) < len(self.PARTITIONS))
    @rule(pick=picks)
    def assign(self, pick):
        unassigned = [tp for tp in self.PARTITIONS if tp not in self.assigned]
        self._assign(unassigned[pick % len(unassigned)])

    def _assign(self, tp):
        self.tracker.assign(tp)
        start = self.committed.get(tp, 0)
        self.assigned[tp] = Assignment(position=start, start=start)

    @precondition(lambda self: self.assigned)
    @rule(pick=picks, count=st.integers(1, 4))
    def consume(self, pick, count):
        """The consumer hands over the next inputs."""
        tp, model = self._owned(pick)
        for _ in range(count):
            offset = model.position
            while offset in self.gaps:
                offset += 1
            model.position = offset + 1
            new = model.handed_over is None or offset >= model.handed_over
            assert self.tracker.accept(tp, offset) == new, f"accept({offset}) after {model.handed_over}"
            if new:
                model.handed_over = offset + 1
                model.accepted.add(offset)
                model.in_hand.append(offset)

    @precondition(lambda self: self.assigned)
    @rule(pick=picks, back=st.integers(1, 6))
    def fetch_restarts_from_an_older_position(self, pick, back):
        """librdkafka #4637: inputs already handed over come again, without a seek."""
        _, model = self._owned(pick)
        model.position = max(model.start, model.position - back)

    # ------------------------------------------------------------------ the batch
    @precondition(lambda self: any(model.in_hand for model in self.assigned.values()))
    @rule(pick=picks, size=picks)
    def deliver(self, pick, size):
        """A batch's inputs of a partition, in consumption order, each produce one record."""
        holding = sorted(tp for tp, model in self.assigned.items() if model.in_hand)
        tp = holding[pick % len(holding)]
        model = self.assigned[tp]
        count = 1 + size % len(model.in_hand)
        batch, model.in_hand = model.in_hand[:count], model.in_hand[count:]
        for offset in batch:
            self._produce(tp, offset)

    @precondition(lambda self: any(model.tracked for model in self.assigned.values()))
    @rule(pick=picks)
    def track_again(self, pick):
        """An input tracked again (its record produced twice): the tracker's own defence."""
        tracked = sorted((tp, offset) for tp, model in self.assigned.items() for offset in model.tracked)
        self._produce(*tracked[pick % len(tracked)])

    def _produce(self, tp, offset):
        generation = self.tracker.generation(tp)
        self.tracker.track(tp, offset, 1)
        self.assigned[tp].tracked.add(offset)
        self.produced.append(ProducedRecord(tp, offset, generation))

    # ------------------------------------------------------------------ delivery reports
    @precondition(lambda self: self.produced)
    @rule(pick=picks)
    def acknowledged_by_the_broker(self, pick):
        self._report(self.produced.pop(pick % len(self.produced)), delivered=True)

    @precondition(lambda self: self.produced)
    @rule(pick=picks)
    def delivery_fails(self, pick):
        self._report(self.produced.pop(pick % len(self.produced)), delivered=False)

    def _report(self, record: ProducedRecord, delivered: bool) -> None:
        """AtLeastOnce's on_delivery."""
        if delivered:
            self.acknowledged.add((record.partition, record.offset))
            self.tracker.ack(record.partition, record.offset, record.generation)
            return
        progress = self.tracker.partitions.get(record.partition)
        if progress is not None and progress.generation == record.generation:
            self.failed.add(record.partition)

    @precondition(lambda self: self.failed)
    @rule()
    def replay_failed_partitions(self):
        """AtLeastOnce._replay_failed_deliveries, after each poll."""
        for tp in list(self.failed):
            self.failed.discard(tp)
            model = self.assigned.get(tp)
            if model is not None:
                model.in_hand.clear()  # the batcher drops the partition's inputs
            expected = self.tracker.committable(tp)
            if expected is None and model is not None and model.accepted:
                expected = min(model.accepted)  # nothing delivered: the first input handed over
            seek_to = self.tracker.rewind(tp)
            assert seek_to == expected, "a replay starts at the first undelivered input"
            if model is None:
                continue
            model.tracked.clear()
            model.handed_over = seek_to
            if seek_to is not None:
                model.position = seek_to

    # ------------------------------------------------------------------ commits and rebalances
    @precondition(lambda self: self.assigned)
    @rule(pick=picks)
    def commit(self, pick):
        self._commit(self._owned(pick)[0])

    def _commit(self, tp):
        offset = self.tracker.committable(tp)
        if offset is not None and offset > self.committed.get(tp, -1):
            self.committed[tp] = offset

    @precondition(lambda self: self.assigned)
    @rule(pick=picks, outcomes=st.lists(st.booleans(), max_size=50))
    def revoke(self, pick, outcomes):
        """_on_revoke: drop the batch, flush (every report comes back), commit, forget."""
        tp, model = self._owned(pick)
        model.in_hand.clear()
        while self.produced:
            self._report(self.produced.pop(0), delivered=outcomes.pop() if outcomes else True)
        self._commit(tp)
        self.failed.discard(tp)
        self._forget(tp)

    @precondition(lambda self: self.assigned)
    @rule(pick=picks)
    def lose(self, pick):
        """_on_lost: another member owns it already; reports of its records still come back later."""
        self._forget(self._owned(pick)[0])

    @precondition(lambda self: self.assigned)
    @rule(pick=picks)
    def lost_and_assigned_again(self, pick):
        """Lost to a session timeout, then back to this member (static membership): a new assignment."""
        tp, _ = self._owned(pick)
        self._forget(tp)
        self._assign(tp)

    def _forget(self, tp):
        self.tracker.revoke(tp)
        del self.assigned[tp]

    # ------------------------------------------------------------------ what must hold
    @invariant()
    def the_committable_offset_never_passes_an_unacknowledged_input(self):
        for tp, model in self.assigned.items():
            committable = self.tracker.committable(tp)
            if committable is None:
                continue
            passed = {offset for offset in model.accepted if offset < committable}
            missing = sorted(offset for offset in passed if (tp, offset) not in self.acknowledged)
            assert not missing, f"{tp}: committable {committable} passes unacknowledged inputs {missing}"

    @invariant()
    def the_committable_offset_never_goes_backwards(self):
        for tp, model in self.assigned.items():
            committable = self.tracker.committable(tp)
            if model.committable is not None:
                assert committable is not None and committable >= model.committable, (tp, model.committable)
            model.committable = committable

    @invariant()
    def each_input_in_flight_is_counted_once(self):
        expected = 0
        for tp, model in self.assigned.items():
            committable = self.tracker.committable(tp)
            expected += sum(1 for offset in model.tracked if committable is None or offset >= committable)
        assert self.tracker.in_flight() == expected
        assert set(self.tracker.partitions) <= set(self.assigned), "a forgotten partition came back"


class OnePartitionLoop(AtLeastOnceLoop):
    """Lost and assigned again more often: the races between an assignment and the next."""

    PARTITIONS = [("in", 0)]


def cases(n: int) -> settings:
    return settings(
        max_examples=n,
        stateful_step_count=40,
        derandomize=not EXPLORE,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


OnePartitionLoop.TestCase.settings = cases(1000)
AtLeastOnceLoop.TestCase.settings = cases(600)
test_one_partition = OnePartitionLoop.TestCase
test_two_partitions = AtLeastOnceLoop.TestCase


# regressions: the minimal examples the state machine found

TP = ("in", 0)


def test_a_replay_before_anything_was_tracked_starts_with_the_inputs_handed_over():
    """A delivery failed, the partition was lost and assigned again, and the failure's replay came
    before the new assignment tracked anything: rewind said None (no seek), the batcher dropped
    offset 0, the consumer went on at 1, and the committable offset passed 0 unacknowledged."""
    tracker = OffsetTracker()
    tracker.assign(TP)
    assert tracker.accept(TP, 0)
    tracker.track(TP, 0, 1)  # its record will fail: TP goes into AtLeastOnce.failed_partitions
    tracker.revoke(TP)  # lost
    tracker.assign(TP)
    assert tracker.accept(TP, 0)  # in the batcher when the replay drops it
    assert tracker.rewind(TP) == 0, "the replay seeks back to the input it dropped"
    assert tracker.accept(TP, 0)
    tracker.track(TP, 0, 1)
    assert tracker.committable(TP) == 0
