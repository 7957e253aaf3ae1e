"""Progress on stderr for long runs: numbered steps (a build), or a bar (texts, training steps)
redrawn in place on a terminal, a line per tenth otherwise."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, what: str = "texts", stream=None, min_total: int = 256, width: int = 30):
        self.total, self.what, self.width = total, what, width
        self.stream = stream or sys.stderr
        self.enabled = total >= min_total  # short runs finish before a bar helps
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = 0
        self.started = time.perf_counter()
        self._last_tenth = -1

    def update(self, n: int) -> None:
        self.done = min(self.total, self.done + n)
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate else 0.0
        filled = int(self.width * self.done / max(self.total, 1))
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {self.what} "
            f"{rate:.1f}/s, {eta:.0f}s left"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if self.done >= self.total else ""))
            self.stream.flush()
        else:
            tenth = 10 * self.done // max(self.total, 1)
            if tenth != self._last_tenth:
                self._last_tenth = tenth
                self.stream.write(line + "\n")
                self.stream.flush()


class Steps:
    """`[2/4  12.3s] message` lines, one per step."""

    def __init__(self, total: int, quiet: bool = False):
        self.total, self.step, self.quiet = total, 0, quiet
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        self.step += 1
        if not self.quiet:
            elapsed = time.monotonic() - self.started
            print(f"[{self.step}/{self.total} {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)
