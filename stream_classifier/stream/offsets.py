"""Which input offsets may be committed: only those whose every record (output or dead letter)
the broker has acknowledged, in order, and that have left the dead-letter guard's window."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

TopicPartitionKey = tuple[str, int]


@dataclass
class PartitionProgress:
    next_offset: int | None = None  # the offset after the last consumed one
    handed_over: int | None = None  # the offset after the last one the consumer handed over
    first_handed_over: int | None = None  # where a replay starts while nothing is committable
    pending: dict[int, int] = field(default_factory=dict)  # offset -> records not yet acked
    order: deque[int] = field(default_factory=deque)  # offsets in consumption order
    committable: int | None = None  # next offset to commit (all below are done)
    generation: int = 0  # bumped on rewind: older acks are ignored


class OffsetTracker:
    """Per-partition tracking of in-flight inputs; pure logic, no Kafka calls."""

    def __init__(self) -> None:
        self.partitions: dict[TopicPartitionKey, PartitionProgress] = {}

    def assign(self, tp: TopicPartitionKey) -> None:
        self.partitions.setdefault(tp, PartitionProgress())

    def revoke(self, tp: TopicPartitionKey) -> None:
        self.partitions.pop(tp, None)

    def generation(self, tp: TopicPartitionKey) -> int:
        return self.partitions[tp].generation

    def accept(self, tp: TopicPartitionKey, offset: int) -> bool:
        """Whether an input the consumer hands over is new. An offset below one already handed
        over (a fetch restarted from an older position, e.g. librdkafka #4637) is in flight or
        done already."""
        progress = self.partitions.setdefault(tp, PartitionProgress())
        if progress.handed_over is not None and offset < progress.handed_over:
            return False
        progress.handed_over = offset + 1
        if progress.first_handed_over is None:
            progress.first_handed_over = offset
        return True

    def seek(self, tp: TopicPartitionKey, offset: int | None) -> None:
        """The consumer was sent back to `offset` (None: a logical offset); inputs from there are new."""
        progress = self.partitions.setdefault(tp, PartitionProgress())
        progress.handed_over = offset

    def track(self, tp: TopicPartitionKey, offset: int, records: int) -> None:
        """An input was consumed and will cause `records` produced records (0: nothing to wait for).

        An offset tracked again while pending waits for all its records, one already delivered is
        ignored, one older than the newest tracked takes its place in the order: a second entry
        in `order` would hold the partition's committable offset back for good (it has no
        `pending` entry once acknowledged), and an entry out of place would let the committable
        offset pass an input whose records are still in flight."""
        progress = self.partitions.setdefault(tp, PartitionProgress())
        if offset in progress.pending:
            progress.pending[offset] += records
            return
        if progress.committable is not None and offset < progress.committable:
            return
        if progress.committable is None:
            progress.committable = offset
        progress.pending[offset] = records
        if progress.order and offset < progress.order[-1]:
            progress.order.insert(bisect.bisect(progress.order, offset), offset)
        else:
            progress.order.append(offset)
            progress.next_offset = offset + 1
        if records == 0:
            self._advance(progress)

    def ack(self, tp: TopicPartitionKey, offset: int, generation: int) -> None:
        progress = self.partitions.get(tp)
        if progress is None or generation != progress.generation or offset not in progress.pending:
            return
        progress.pending[offset] -= 1
        if progress.pending[offset] <= 0:
            self._advance(progress)

    def _advance(self, progress: PartitionProgress) -> None:
        while progress.order and progress.pending.get(progress.order[0], 1) <= 0:
            done = progress.order.popleft()
            del progress.pending[done]
            progress.committable = done + 1

    def rewind(self, tp: TopicPartitionKey) -> int | None:
        """Forget everything in flight; returns the offset to seek back to (first not done)."""
        progress = self.partitions.get(tp)
        if progress is None:
            return None
        # nothing tracked yet (a failure reported after the partition was lost and assigned again): the
        # inputs handed over are still in the batcher, which the replay drops, so it starts with the first
        seek_to = progress.committable if progress.committable is not None else progress.first_handed_over
        progress.pending.clear()
        progress.order.clear()
        progress.generation += 1
        progress.next_offset = seek_to
        progress.handed_over = seek_to
        return seek_to

    def in_flight(self) -> int:
        return sum(len(p.pending) for p in self.partitions.values())

    def committable(self, tp: TopicPartitionKey, held: int | None = None) -> int | None:
        """Next offset to commit for tp, never past `held` (the guard's window start)."""
        progress = self.partitions.get(tp)
        if progress is None or progress.committable is None:
            return None
        if held is not None:
            return min(progress.committable, held)
        return progress.committable


class DeadLetterGuard:
    """The dead-letter share over the last `window` records; holds back their offsets.

    A record's offset may be committed only once it has left the window (or the stream has
    been idle for `idle_release_s`), so when the guard trips nothing at or past the window's
    first record has been committed.
    """

    def __init__(self, window: int, min_records: int, max_ratio: float, idle_release_s: float, enabled: bool = True):
        self.window = window
        self.min_records = min(min_records, window)
        self.max_ratio = max_ratio
        self.idle_release_s = idle_release_s
        self.enabled = enabled
        self.recent: deque[tuple[TopicPartitionKey, int, bool]] = deque()
        self.dead = 0
        self.last_record_at = 0.0

    def observe(self, tp: TopicPartitionKey, offset: int, dead_letter: bool, now: float) -> None:
        if not self.enabled:
            return
        self.recent.append((tp, offset, dead_letter))
        self.dead += dead_letter
        self.last_record_at = now
        while len(self.recent) > self.window:
            _, _, was_dead = self.recent.popleft()
            self.dead -= was_dead

    def tripped(self) -> bool:
        return self.enabled and len(self.recent) >= self.min_records and self.dead / len(self.recent) > self.max_ratio

    def ratio(self) -> float:
        return self.dead / len(self.recent) if self.recent else 0.0

    def release_if_idle(self, now: float) -> None:
        if self.recent and not self.tripped() and now - self.last_record_at >= self.idle_release_s:
            self.release_all()

    def release_all(self) -> None:
        self.recent.clear()
        self.dead = 0

    def release_partition(self, tp: TopicPartitionKey) -> None:
        kept = deque(r for r in self.recent if r[0] != tp)
        self.dead = sum(r[2] for r in kept)
        self.recent = kept

    def held_from(self) -> dict[TopicPartitionKey, int]:
        """Per partition, the first offset still inside the window."""
        held: dict[TopicPartitionKey, int] = {}
        for tp, offset, _ in self.recent:
            if tp not in held or offset < held[tp]:
                held[tp] = offset
        return held
