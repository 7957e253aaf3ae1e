"""Bounded micro-batches: closed when full, when the first message has waited long enough,
or when the estimated tokens reach the limit."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


def estimate_tokens(value: bytes | None, max_length: int) -> int:
    """Cheap upper-bound-ish token estimate from bytes, before decoding (CJK: 3 bytes a char)."""
    if not value:
        return 2
    return min(max_length, len(value) // 3 + 2)


@dataclass
class MicroBatch(Generic[T]):
    items: list[T] = field(default_factory=list)
    tokens: int = 0
    opened_at: float | None = None  # monotonic time of the first item


class Batcher(Generic[T]):
    def __init__(self, max_size: int, max_wait_s: float, max_tokens: int, clock=time.monotonic):
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self.max_tokens = max_tokens
        self.clock = clock
        self.batch: MicroBatch[T] = MicroBatch()

    def __len__(self) -> int:
        return len(self.batch.items)

    def add(self, item: T, tokens: int) -> None:
        if self.batch.opened_at is None:
            self.batch.opened_at = self.clock()
        self.batch.items.append(item)
        self.batch.tokens += tokens

    def room(self) -> int:
        return self.max_size - len(self.batch.items)

    def full(self) -> bool:
        return len(self.batch.items) >= self.max_size or self.batch.tokens >= self.max_tokens

    def remaining_wait(self) -> float:
        """Seconds until the open batch is due; max_wait when it is empty."""
        if self.batch.opened_at is None:
            return self.max_wait_s
        return max(0.0, self.batch.opened_at + self.max_wait_s - self.clock())

    def ready(self) -> bool:
        return bool(self.batch.items) and (self.full() or self.remaining_wait() <= 0.0)

    def take(self) -> MicroBatch[T]:
        batch, self.batch = self.batch, MicroBatch()
        return batch

    def drop(self, keep) -> int:
        """Remove items for which keep(item) is false (revoked partitions); returns how many."""
        before = len(self.batch.items)
        self.batch.items = [item for item in self.batch.items if keep(item)]
        if not self.batch.items:
            self.batch = MicroBatch()
        return before - len(self.batch.items)
