"""Run `stream-classifier run` as a real subprocess against the test broker, and read topics back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka_helpers import free_ports, unique_name

REPO = Path(__file__).resolve().parents[1]


def settings_for(
    bootstrap: str,
    input_topic: str,
    output_topic: str,
    dlq_topic: str,
    labels: Path,
    group: str | None = None,
    **sections,
) -> dict:
    settings = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": group or unique_name("sc-group"),
            "connect_timeout_s": 20,
        },
        "topics": {"input": input_topic, "output": output_topic, "dead_letter": dlq_topic},
        "labels": {"file": str(labels), "watch_interval_s": 0.2},
        "batch": {"max_size": 64, "max_wait_ms": 50},
        "delivery": {"commit_interval_s": 0.5},
        "metrics": {"port": free_ports(1)[0], "statistics_interval_ms": 1000},
        # SC_TEST_LOG_LEVEL=DEBUG: the loop logs each commit decision
        "logging": {"level": os.environ.get("SC_TEST_LOG_LEVEL", "INFO"), "format": "json"},
    }
    for section, values in sections.items():
        settings.setdefault(section, {}).update(values)
    return settings


@dataclass
class ClassifierProcess:
    settings: dict
    workdir: Path
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def start(self) -> ClassifierProcess:
        config = self.workdir / f"config-{unique_name('run')}.yaml"
        config.write_text(yaml.safe_dump(self.settings, allow_unicode=True))
        self.log_path = config.with_suffix(".log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream_classifier", "run", "--config", str(config)],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        return self

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.settings['metrics']['port']}"

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"classifier exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.metrics_url + "/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"classifier not ready after {timeout}s:\n{self.log_tail()}")

    def metrics(self) -> dict[str, float]:
        """Samples of /metrics as {'name{labels}': value}."""
        with urllib.request.urlopen(self.metrics_url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def metric_sum(self, prefix: str, **labels: str) -> float:
        total = 0.0
        for name, value in self.metrics().items():
            if name.split("{")[0] == prefix and all(f'{k}="{v}"' in name for k, v in labels.items()):
                total += value
        return total

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 40, skip: str | None = None) -> str:
        kept = [line for line in self.log_path.read_text(errors="replace").splitlines() if not skip or skip not in line]
        return "\n".join(kept[-lines:])

    def stack_dump(self) -> str:
        """Every thread's Python stack (and native frames) of the running process, by py-spy."""
        if self.proc is None or self.proc.poll() is not None:
            return f"(no stack: the process exited with {self.proc.returncode if self.proc else None})"
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        try:
            done = subprocess.run(
                [py_spy, "dump", "--native", "--pid", str(self.proc.pid)], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"(py-spy dump failed: {exc})"
        return done.stdout + done.stderr

    def diagnostics(self, log_lines: int = 60) -> str:
        """What a failed test needs to explain itself: the process's /metrics (ours), the tail of
        its log and a stack dump of every thread."""
        try:
            with urllib.request.urlopen(self.metrics_url + "/metrics", timeout=5) as resp:
                metrics = "\n".join(
                    line
                    for line in resp.read().decode().splitlines()
                    if line.startswith("sc_") and not line.startswith("sc_batch") and "_bucket" not in line
                )
        except OSError as exc:
            metrics = f"(/metrics unreachable: {exc})"
        state = "running" if self.proc.poll() is None else f"exited with {self.proc.returncode}"
        return (
            f"--- classifier pid {self.proc.pid} ({state})\n--- /metrics\n{metrics}\n"
            # a broker that is down fills the log with refused reconnects; what the loop did is the rest
            f"--- log tail (without 'Connection refused')\n{self.log_tail(log_lines, skip='Connection refused')}\n"
            f"--- stack dump\n{self.stack_dump()}"
        )


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    errors = []
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=lambda err, _m: err and errors.append(err))
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0 and not errors, errors


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 120, settle: float = 1.0) -> list:
    """Read a topic from the beginning until `expected` records arrived (then `settle` s more)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique_name("reader"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    records, deadline, settle_until = [], time.monotonic() + timeout, None
    try:
        while time.monotonic() < deadline:
            if len(records) >= expected:
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    break
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() is None:
                    records.append(msg)
    finally:
        consumer.close()
    return records


def outputs_by_source(records) -> dict[tuple[int, int], dict]:
    out = {}
    for msg in records:
        record = json.loads(msg.value())
        out[(record["source"]["partition"], record["source"]["offset"])] = record
    return out


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


def wait_until(predicate, timeout: float, message: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(message)
