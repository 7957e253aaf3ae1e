"""One engine worker that coalesces concurrent requests into shared micro-batches.

Requests wait in a bounded queue (counted in texts). The worker opens a micro-batch with the
oldest request and adds the queued ones while the stream's bounds allow (`batch.max_size` texts,
`batch.max_tokens` estimated tokens); by default it starts as soon as it has taken what is
queued (continuous batching: requests that arrive during a forward pass form the next batch),
with `serve.wait_when_idle` it waits up to `batch.max_wait_ms` for company as the stream does.
It runs the engine once per combination of label sets in the batch (one forward pass for all the
sets of a request): the engine's own length-sorted sub-batching and repeat cache do the rest,
exactly as for the stream.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stream_classifier.labels import LabelSet
from stream_classifier.model.engines import ZeroShotEngine
from stream_classifier.observability import Health, Metrics
from stream_classifier.records import combined_result
from stream_classifier.stream.batcher import Batcher, estimate_tokens


class QueueFull(Exception):
    def __init__(self, retry_after_s: int):
        super().__init__(f"the queue is full; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class DeadlineExceeded(Exception):
    """The request's deadline passed before the engine reached it."""


@dataclass
class Job:
    texts: list[str]
    label_set: LabelSet | list[LabelSet]  # several: each text's result carries every set's (label_sets)
    deadline: float  # time.monotonic() after which nobody waits for it
    on_done: Callable[[object], None]  # called once, from the worker: results or an exception
    tokens: list[int] = field(default_factory=list)
    cancelled: bool = False  # the caller gave up (deadline, disconnect)

    @property
    def label_sets(self) -> list[LabelSet]:
        return self.label_set if isinstance(self.label_set, list) else [self.label_set]


@dataclass(frozen=True)
class BatchBounds:
    max_size: int
    max_wait_s: float
    max_tokens: int


class EngineWorker:
    def __init__(
        self,
        engine: ZeroShotEngine,
        bounds: BatchBounds,
        max_queue: int,
        metrics: Metrics,
        health: Health,
        wait_when_idle: bool = False,
        clock=time.monotonic,
    ):
        self.engine = engine
        self.wait_when_idle = wait_when_idle
        self.bounds = bounds
        self.max_queue = max_queue
        self.metrics = metrics
        self.health = health
        self.clock = clock
        self._pending: collections.deque[Job] = collections.deque()
        self._queued_texts = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="engine-worker", daemon=True)
        # what /v1/stats and the bench read: counts and the last batch durations
        self.batches = 0
        self.texts = 0
        self.recent_batch_s: collections.deque[float] = collections.deque(maxlen=4096)
        self.recent_batch_texts: collections.deque[int] = collections.deque(maxlen=4096)

    # ------------------------------------------------------------------ callers
    def start(self) -> EngineWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopping

    @property
    def queued_texts(self) -> int:
        return self._queued_texts

    def submit(self, job: Job) -> None:
        """Queue a job, or raise QueueFull (the caller answers 429 with Retry-After)."""
        job.tokens = [
            estimate_tokens(t.encode("utf-8", "surrogatepass"), self.engine.model.max_length) for t in job.texts
        ]
        with self._cond:
            if self._stopping:
                raise QueueFull(1)
            if self._queued_texts + len(job.texts) > self.max_queue:
                raise QueueFull(self._retry_after_s())
            self._pending.append(job)
            self._queued_texts += len(job.texts)
            self.metrics.serve_queue.set(self._queued_texts)
            self._cond.notify()

    def _retry_after_s(self) -> int:
        """Seconds until the queue has likely drained, from the recent texts per second."""
        spent = sum(list(self.recent_batch_s)[-32:])
        done = sum(list(self.recent_batch_texts)[-32:])
        rate = done / spent if spent > 0 else 0.0
        return max(1, math.ceil(self._queued_texts / rate)) if rate > 0 else 1

    # ------------------------------------------------------------------ worker thread
    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            self._process(batch)

    def _collect(self):
        """Block for the next micro-batch: a list of jobs, within the bounds; None when stopping."""
        b = self.bounds
        batcher: Batcher[Job] = Batcher(b.max_size, b.max_wait_s, b.max_tokens, clock=self.clock)
        jobs: list[Job] = []
        with self._cond:
            while True:
                self.health.tick()
                while self._pending:
                    job = self._pending[0]
                    if jobs and (
                        batcher.room() < len(job.texts) or batcher.batch.tokens + sum(job.tokens) > b.max_tokens
                    ):
                        break  # it opens the next batch
                    self._pending.popleft()
                    self._queued_texts -= len(job.texts)
                    if job.cancelled or self.clock() > job.deadline:
                        self._finish(job, DeadlineExceeded("deadline passed in the queue"))
                        continue
                    jobs.append(job)
                    for tokens in job.tokens:
                        batcher.add(job, tokens)
                self.metrics.serve_queue.set(self._queued_texts)
                if jobs and (not self.wait_when_idle or batcher.ready() or self._pending or self._stopping):
                    # continuous batching, or full, due, or the next job does not fit: run what we have
                    self.metrics.batch_wait.observe(self.clock() - batcher.batch.opened_at)
                    return jobs
                if self._stopping:
                    return None
                self._cond.wait(timeout=batcher.remaining_wait() if jobs else 1.0)

    def _process(self, jobs: list[Job]) -> None:
        by_versions: dict[tuple[str, ...], list[Job]] = {}
        for job in jobs:
            by_versions.setdefault(tuple(s.version for s in job.label_sets), []).append(job)
        started = self.clock()
        texts_run = 0
        for group in by_versions.values():
            label_sets = group[0].label_sets
            names = [s.name for s in label_sets]
            texts = [t for job in group for t in job.texts]
            texts_run += len(texts)
            try:
                results = self.engine.classify_many(texts, label_sets)
            except Exception as exc:  # noqa: BLE001 - the callers get a 500 naming it
                for job in group:
                    self._finish(job, exc)
                continue
            hits = min(result.cache_hits for result in results)
            if hits:
                self.metrics.cache_hits.inc(hits)
            position = 0
            for job in group:
                self._finish(
                    job,
                    [
                        combined_result(names, [result.as_dict(position + i) for result in results])
                        for i in range(len(job.texts))
                    ],
                )
                position += len(job.texts)
            for label_set, result in zip(label_sets, results):
                for i in range(len(texts)):
                    self.metrics.labels_assigned.labels(label_set=label_set.name, label=result.top(i)[0]).inc()
        elapsed = self.clock() - started
        self.metrics.inference.observe(elapsed)
        self.metrics.batch_size.observe(texts_run)
        self.batches += 1
        self.texts += texts_run
        self.recent_batch_s.append(elapsed)
        self.recent_batch_texts.append(texts_run)

    @staticmethod
    def _finish(job: Job, outcome: object) -> None:
        try:
            job.on_done(outcome)
        except Exception:  # noqa: BLE001 - a caller that went away must not stop the worker
            pass
