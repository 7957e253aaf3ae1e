"""The named label sets the API serves: one LabelWatcher per file, as the stream has for its own.

An edit over HTTP is validated, encoded, written to the set's file (atomically), then swapped in by
that file's watcher, so a stream watching the same file follows within its watch interval.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import yaml

from stream_classifier.labels import LabelSet, LabelSetError, load_label_set, parse_label_set
from stream_classifier.model.engines import ZeroShotEngine
from stream_classifier.observability import Metrics
from stream_classifier.stream.label_watch import LabelWatcher


class UnknownLabelSet(KeyError):
    pass


class LabelSetRegistry:
    def __init__(self, files: list[Path], engine: ZeroShotEngine, metrics: Metrics, interval_s: float):
        self.engine = engine
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self.watchers: dict[str, LabelWatcher] = {}
        self.stream_name: str | None = None  # the set of files[0], the stream's first labels.file
        seen: set[Path] = set()
        for path in files:
            path = Path(path).resolve()
            if path in seen:
                continue
            seen.add(path)
            name = load_label_set(path).name  # start-up: an invalid file is fatal (LabelSetError)
            if name in self.watchers:
                raise LabelSetError(
                    str(path), [("name", f"label set name {name!r} is also used by {self.watchers[name].path}")]
                )
            self.watchers[name] = LabelWatcher(path, engine, metrics, interval_s)
            self.stream_name = self.stream_name or name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="label-watch", daemon=True)

    def start(self) -> LabelSetRegistry:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                for watcher in self.watchers.values():
                    watcher.maybe_reload()

    def names(self) -> list[str]:
        return sorted(self.watchers)

    def get(self, name: str) -> LabelSet:
        watcher = self.watchers.get(name)
        if watcher is None:
            raise UnknownLabelSet(name)
        return watcher.current

    def stream_set(self) -> LabelSet:
        """The set the stream labels with: what a request that names none gets."""
        if self.stream_name is None:
            raise UnknownLabelSet(None)
        return self.get(self.stream_name)

    def path(self, name: str) -> Path:
        return self.watchers[name].path

    def replace(self, name: str, data: dict) -> tuple[LabelSet, bool]:
        """Validate -> encode -> write the file -> swap. Returns the set in use and whether it changed.

        LabelSetError names the field; UnknownLabelSet for a name no file serves.
        """
        watcher = self.watchers.get(name)
        if watcher is None:
            raise UnknownLabelSet(name)
        candidate = parse_label_set(data, f"label set {name!r}")
        if candidate.name != name:
            raise LabelSetError(
                f"label set {name!r}", [("name", f"must be {name!r} (the set edited), got {candidate.name!r}")]
            )
        with self._lock:
            if candidate.version == watcher.current.version:
                return watcher.current, False
            self.engine.prepare(candidate)  # encode before anything is written or swapped
            _write_atomically(
                watcher.path,
                yaml.safe_dump(
                    candidate.model_dump(mode="json", exclude_defaults=True), allow_unicode=True, sort_keys=False
                ),
            )
            watcher.request_reload()
            watcher.maybe_reload()
            if watcher.current.version != candidate.version:
                raise LabelSetError(str(watcher.path), [("", "written but not swapped in (see the server log)")])
            return watcher.current, True


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
