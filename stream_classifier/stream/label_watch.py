"""The label set in use, re-read when its file changes (mtime polling) or on SIGHUP.

A new set is validated and encoded before the swap; an invalid file keeps the old set.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from stream_classifier.labels import LabelSet, LabelSetError, load_label_set
from stream_classifier.model.engines import ZeroShotEngine
from stream_classifier.observability import Metrics, log

logger = logging.getLogger(__name__)


class LabelWatcher:
    def __init__(self, path: Path, engine: ZeroShotEngine, metrics: Metrics, interval_s: float):
        self.path = Path(path)
        self.engine = engine
        self.metrics = metrics
        self.interval_s = interval_s
        self.reload_requested = False
        self._next_check = 0.0
        self._stamp = self._file_stamp()
        self.current: LabelSet = load_label_set(self.path)  # start-up: an invalid file is fatal
        engine.prepare(self.current)
        metrics.set_label_set(self.current.version)

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
        self.metrics.set_label_set(candidate.version)
        log(
            logger,
            logging.INFO,
            "label set swapped",
            previous=previous.version,
            version=candidate.version,
            labels=candidate.names,
        )
        return True
