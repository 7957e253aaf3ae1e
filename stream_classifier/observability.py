"""Prometheus metrics, /healthz and /readyz on one HTTP port, and structured logs."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
NOT_FETCHING = ("none", "stopping", "stopped", None)  # librdkafka fetch states of a partition not owned


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        r = self.registry = registry or CollectorRegistry()
        self.consumed = Counter("sc_records_consumed", "Input records consumed", ["topic"], registry=r)
        self.produced = Counter(
            "sc_records_produced", "Records acknowledged by the broker", ["topic", "kind"], registry=r
        )
        self.dead_letters = Counter("sc_dead_letters", "Inputs sent to the dead-letter topic", ["reason"], registry=r)
        self.delivery_failures = Counter(
            "sc_delivery_failures", "Produce requests the broker did not acknowledge", ["kind"], registry=r
        )
        self.commits = Counter(
            "sc_commits",
            "Offset commit results received (at-least-once) or transactions committed (exactly-once)",
            ["result"],
            registry=r,
        )
        self.redelivered = Counter(
            "sc_records_redelivered",
            "Inputs the consumer handed over again at an offset this process had already consumed (skipped)",
            ["topic"],
            registry=r,
        )
        self.commit_stalls = Counter(
            "sc_commit_stalls",
            "Commit watchdog: partitions found behind their committable offset too long, by what the bounded retry did",
            ["outcome"],
            registry=r,
        )
        self.commit_requests = Counter(
            "sc_commit_requests",
            "Offset commits sent to the group coordinator, by what sent them",
            ["trigger"],
            registry=r,
        )
        self.offset_committable = Gauge(
            "sc_offset_committable",
            "Per partition: the next offset the loop may "
            "commit (every input below it delivered and out of the guard window)",
            ["topic", "partition"],
            registry=r,
        )
        self.offset_committed = Gauge(
            "sc_offset_committed",
            "Per partition: the last offset the broker confirmed committed",
            ["topic", "partition"],
            registry=r,
        )
        self.transactions = Counter(
            "sc_transactions",
            "Transactions in exactly-once mode (committed, aborted, "
            "fenced: the producer was fenced or failed and was replaced)",
            ["result"],
            registry=r,
        )
        self.label_reloads = Counter("sc_label_reloads", "Label-set reloads", ["result"], registry=r)
        self.labels_assigned = Counter(
            "sc_labels_assigned", "Top labels assigned (the opinion distribution)", ["label_set", "label"], registry=r
        )
        self.batch_size = Histogram("sc_batch_size", "Records per micro-batch", buckets=BATCH_BUCKETS, registry=r)
        self.batch_wait = Histogram(
            "sc_batch_wait_seconds",
            "Time from a batch's first record to its close",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "sc_inference_seconds", "Model time per micro-batch", buckets=LATENCY_BUCKETS, registry=r
        )
        self.end_to_end = Histogram(
            "sc_end_to_end_latency_seconds",
            "Input record timestamp to output acknowledged",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "sc_consumer_lag", "Consumer lag per partition (librdkafka statistics)", ["topic", "partition"], registry=r
        )
        self.label_set = Gauge(
            "sc_label_set_info", "The label sets in use (value 1), by name", ["label_set", "version"], registry=r
        )
        self._label_set_versions: dict[str, str] = {}
        self.paused = Gauge("sc_backpressure_paused", "1 while fetching is paused for backpressure", registry=r)
        self.pauses = Counter("sc_backpressure_pauses", "Times fetching was paused for backpressure", registry=r)
        self.in_flight = Gauge("sc_in_flight_records", "Inputs consumed and not yet fully acknowledged", registry=r)
        self.cache_hits = Counter("sc_repeat_cache_hits", "Texts served from the repeat cache", registry=r)
        self.guard_ratio = Gauge("sc_dead_letter_window_ratio", "Dead-letter share over the guard window", registry=r)
        self.review_candidates = Counter(
            "sc_review_candidates", "Least-sure records offered to the review topic, by result", ["result"], registry=r
        )

    def set_label_set(self, name: str, version: str) -> None:
        previous = self._label_set_versions.get(name)
        if previous is not None and previous != version:
            self.label_set.remove(name, previous)
        self._label_set_versions[name] = version
        self.label_set.labels(label_set=name, version=version).set(1)

    def forget_partition(self, topic: str, partition: int) -> None:
        """Remove the per-partition series of a partition this consumer no longer owns, so a
        revoked partition's last lag is not summed with its new owner's."""
        for gauge in (self.lag, self.offset_committable, self.offset_committed):
            try:
                gauge.remove(topic, str(partition))
            except KeyError:
                pass

    def update_from_statistics(self, stats_json: str) -> None:
        stats = json.loads(stats_json)
        for topic, tstats in stats.get("topics", {}).items():
            for partition, pstats in tstats.get("partitions", {}).items():
                if partition == "-1":
                    continue
                lag = pstats.get("consumer_lag")
                # a revoked partition stays in the statistics as "stopping"/"stopped"
                if lag is not None and lag >= 0 and pstats.get("fetch_state") not in NOT_FETCHING:
                    self.lag.labels(topic=topic, partition=partition).set(lag)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Health:
    """Liveness: the loop has ticked recently. Readiness: model loaded and partitions assigned."""

    def __init__(self, stall_after_s: float = 60.0):
        self.stall_after_s = stall_after_s
        self.last_tick = time.monotonic()
        self.model_loaded = False
        self.assigned = False
        self.stopping = False
        self.commit_stalled = False  # set by the commit watchdog: the process is about to exit 5

    def tick(self) -> None:
        self.last_tick = time.monotonic()

    def live(self) -> bool:
        return not self.commit_stalled and time.monotonic() - self.last_tick < self.stall_after_s

    def ready(self) -> bool:
        return self.model_loaded and self.assigned and not self.stopping and self.live()


class ObservabilityServer:
    def __init__(self, host: str, port: int, metrics: Metrics, health: Health):
        metrics_ref, health_ref = metrics, health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.path.startswith("/metrics"):
                    self._send(200, metrics_ref.render(), CONTENT_TYPE_LATEST)
                elif self.path.startswith("/healthz"):
                    ok = health_ref.live()
                    why = b"commit stalled\n" if health_ref.commit_stalled else b"stalled\n"
                    self._send(200 if ok else 503, b"ok\n" if ok else why)
                elif self.path.startswith("/readyz"):
                    ok = health_ref.ready()
                    self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
                else:
                    self._send(404, b"not found\n")

            def _send(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8"):
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the scraper (or a probe with a short timeout) hung up first

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="observability", daemon=True)

    def start(self) -> ObservabilityServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RepeatFilter(logging.Filter):
    """Lets an identical message (same text, same fields) through once per `interval_s`
    (librdkafka repeats itself)."""

    def __init__(self, interval_s: float = 10.0):
        super().__init__()
        self.interval_s = interval_s
        self.last_seen: dict[tuple, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, "fields", {})
        key = (record.name, record.getMessage(), json.dumps(fields, sort_keys=True, default=str))
        now = time.monotonic()
        if now - self.last_seen.get(key, -1e9) < self.interval_s:
            return False
        if len(self.last_seen) > 1000:
            self.last_seen.clear()
        self.last_seen[key] = now
        return True


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RepeatFilter())
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log(logger: logging.Logger, level: int, msg: str, **fields) -> None:
    logger.log(level, msg, extra={"fields": fields})
