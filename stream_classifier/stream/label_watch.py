"""The label sets in use, each re-read when its file changes (mtime polling) or on SIGHUP.

A new set is validated and encoded before the swap; an invalid file keeps the old set.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from stream_classifier.labels import LabelSet, LabelSetError, load_label_set
from stream_classifier.model.engines import ZeroShotEngine
from stream_classifier.observability import Metrics, log

logger = logging.getLogger(__name__)


class LabelWatcher:
    def __init__(
        self,
        path: Path,
        engine: ZeroShotEngine,
        metrics: Metrics,
        interval_s: float,
        names_taken: Callable[[], set[str]] = set,
    ):
        self.path = Path(path)
        self.names_taken = names_taken  # the other files' set names: a reload may not take one
        self.engine = engine
        self.metrics = metrics
        self.interval_s = interval_s
        self.reload_requested = False
        self._next_check = 0.0
        self._stamp = self._file_stamp()
        self.current: LabelSet = load_label_set(self.path)  # start-up: an invalid file is fatal
        engine.prepare(self.current)
        metrics.set_label_set(self.current.name, self.current.version)

    def _file_stamp(self) -> tuple[int, int, int, int] | None:
        try:
            stat = os.stat(self.path)  # follows symlinks: a ConfigMap's ..data swap is a new file
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_dev, stat.st_ino

    def request_reload(self) -> None:
        self.reload_requested = True

    def maybe_reload(self, now: float | None = None) -> bool:
        """Reload if asked (SIGHUP) or the file changed; returns whether the set was swapped."""
        now = time.monotonic() if now is None else now
        if not self.reload_requested and now < self._next_check:
            return False
        self._next_check = now + self.interval_s
        stamp = self._file_stamp()
        if not self.reload_requested and stamp == self._stamp:
            return False
        self.reload_requested = False
        self._stamp = stamp
        return self.reload()

    def reload(self) -> bool:
        try:
            candidate = load_label_set(self.path)
            if candidate.version == self.current.version:
                return False
            if candidate.name != self.current.name and candidate.name in self.names_taken():
                raise LabelSetError(str(self.path), [("name", f"{candidate.name!r} is another file's set")])
            self.engine.prepare(candidate)  # encode before the swap
        except LabelSetError as exc:
            self.metrics.label_reloads.labels(result="failure").inc()
            log(
                logger,
                logging.WARNING,
                "label file rejected, keeping the current set",
                file=str(self.path),
                error=str(exc),
                version=self.current.version,
            )
            return False
        except Exception as exc:  # encoding failed: keep serving with the old set
            self.metrics.label_reloads.labels(result="failure").inc()
            log(
                logger,
                logging.ERROR,
                "label set could not be encoded, keeping the current set",
                file=str(self.path),
                error=repr(exc),
                version=self.current.version,
            )
            return False
        previous, self.current = self.current, candidate
        self.metrics.label_reloads.labels(result="success").inc()
        self.metrics.set_label_set(candidate.name, candidate.version)
        log(
            logger,
            logging.INFO,
            "label set swapped",
            previous=previous.version,
            version=candidate.version,
            labels=candidate.names,
        )
        return True


class LabelWatchers:
    """The stream's label sets, one watcher per file (labels.file), each swapped on its own: an
    invalid file keeps its set's old version and stops none of the others."""

    def __init__(self, paths: list[Path], engine: ZeroShotEngine, metrics: Metrics, interval_s: float):
        self.watchers: list[LabelWatcher] = []
        for path in paths:
            watcher = LabelWatcher(
                path, engine, metrics, interval_s, names_taken=self._names_besides(len(self.watchers))
            )
            if watcher.current.name in {w.current.name for w in self.watchers}:
                raise LabelSetError(str(path), [("name", f"label set name {watcher.current.name!r} is used twice")])
            self.watchers.append(watcher)

    def _names_besides(self, index: int) -> Callable[[], set[str]]:
        return lambda: {w.current.name for i, w in enumerate(self.watchers) if i != index}

    @property
    def current(self) -> list[LabelSet]:
        return [w.current for w in self.watchers]

    def maybe_reload(self) -> None:
        for watcher in self.watchers:
            watcher.maybe_reload()

    def request_reload(self) -> None:
        for watcher in self.watchers:
            watcher.request_reload()
