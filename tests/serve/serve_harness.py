"""Run `stream-classifier serve` as a real subprocess on a free port and read its metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml
from kafka_helpers import free_ports

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ServeProcess:
    settings: dict
    workdir: Path
    proc: subprocess.Popen | None = None

    def start(self) -> ServeProcess:
        self.port = free_ports(1)[0]
        self.settings.setdefault("serve", {})["port"] = self.port
        config = self.workdir / f"serve-{self.port}.yaml"
        config.write_text(yaml.safe_dump(self.settings, allow_unicode=True))
        self.log_path = config.with_suffix(".log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream_classifier", "serve", "--config", str(config)],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 180) -> ServeProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"serve not ready after {timeout}s:\n{self.log_tail()}")

    def metric(self, name: str) -> float:
        """Sum of the samples whose name and labels start with `name` (e.g. 'sc_batch_size_count')."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as resp:
            lines = resp.read().decode().splitlines()
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(name))

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)
