"""The commit watchdog: notices a partition whose committable offset stays ahead of its committed
offset for too long without a successful commit, so a stalled commit can never sit silently.

Pure logic, no Kafka calls: the loop reports what it may commit and what the broker confirmed,
and asks which partitions have stalled.
"""

from __future__ import annotations

from dataclasses import dataclass

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Stall:
    partition: TopicPartitionKey
    committable: int
    committed: int
    behind_s: float

    def describe(self) -> str:
        return (
            f"{self.partition[0]}[{self.partition[1]}]: committable {self.committable}, "
            f"committed {self.committed}, behind for {self.behind_s:.0f}s"
        )


class CommitWatchdog:
    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.behind_since: dict[TopicPartitionKey, float] = {}
        self.positions: dict[TopicPartitionKey, tuple[int, int]] = {}

    def observe(self, tp: TopicPartitionKey, committable: int | None, committed: int, now: float) -> None:
        """What the loop may commit for tp now, and what the broker last confirmed."""
        if committable is None or committable <= committed:
            self.behind_since.pop(tp, None)
            self.positions.pop(tp, None)
            return
        self.behind_since.setdefault(tp, now)
        self.positions[tp] = (committable, committed)

    def committed(self, tp: TopicPartitionKey, now: float) -> None:
        """A commit for tp succeeded: its clock starts again if it is still behind."""
        if tp in self.behind_since:
            self.behind_since[tp] = now

    def forget(self, tp: TopicPartitionKey) -> None:
        self.behind_since.pop(tp, None)
        self.positions.pop(tp, None)

    def stalled(self, now: float) -> list[Stall]:
        return [stall for stall in self.behind(now) if stall.behind_s > self.timeout_s]

    def behind(self, now: float) -> list[Stall]:
        """Every partition behind its committable offset, however briefly."""
        return [Stall(tp, *self.positions[tp], now - since) for tp, since in sorted(self.behind_since.items())]
