"""`stream-classifier bench stream`: the consumer against a real broker, beside the engine alone.

1. Pre-load N real texts, start `stream-classifier run`, and measure sustained throughput from
   its first consumed record to the commit of the last one.
2. The engine alone on the same texts, same batch size, in this process: the stream's ratio to it.
3. A producer at a steady 50% and 80% of that throughput; end-to-end latency per record =
   output record's broker append time (the output topic uses LogAppendTime) - input record's
   create time, p50/p95/p99.
4. Peak RSS (VmHWM) of the `stream-classifier run` process.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from stream_classifier.labels import DEFAULT_LABEL_FILE
from stream_classifier_workbench.checkout import REPO
from stream_classifier_workbench.devtools.ports import free_port

LABELS = DEFAULT_LABEL_FILE
MAX_WAIT_MS = 50


def _values(texts: list[str], start: int = 0) -> list[bytes]:
    return [json.dumps({"id": start + i, "text": t}, ensure_ascii=False).encode() for i, t in enumerate(texts)]


def _produce_all(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True})
    for i, value in enumerate(values):
        while True:
            try:
                producer.produce(topic, key=str(i).encode(), value=value)
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(60)


def _committed_total(consumer: Consumer, topic: str, partitions: int) -> int:
    tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    return sum(max(tp.offset, 0) for tp in tps)


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


class Classifier:
    def __init__(self, bootstrap: str, topics: dict, group: str, batch_size: int, workdir: Path, label_files=(LABELS,)):
        self.port = free_port()
        config = workdir / f"{group}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "kafka": {"bootstrap_servers": bootstrap, "group_id": group},
                    "topics": topics,
                    "labels": {"file": [str(f) for f in label_files]},
                    "batch": {"max_size": batch_size, "max_wait_ms": MAX_WAIT_MS},
                    "model": {"cache_entries": 0},  # measure the model, not the repeat cache
                    "metrics": {"port": self.port},
                    "logging": {"level": "WARNING"},
                }
            )
        )
        self.log = open(workdir / f"{group}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream_classifier", "run", "--config", str(config)],
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"classifier exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("classifier not ready")

    def stop(self) -> float:
        hwm = _vm_hwm_mb(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.log.close()
        return hwm


def _latency_run(bootstrap: str, topics: dict, texts: list[str], rate: float, seconds: float, id_start: int) -> dict:
    """Produce at a steady rate; read outputs; latency = output append time - input create time."""
    count = int(rate * seconds)
    values = _values([texts[i % len(texts)] for i in range(count)], id_start)
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"latency-{id_start}",
            "auto.offset.reset": "latest",
            "fetch.wait.max.ms": 10,
        }
    )
    reader.subscribe([topics["output"]])
    deadline = time.monotonic() + 15
    while not reader.assignment() and time.monotonic() < deadline:
        reader.poll(0.1)
    latencies: list[float] = []

    def produce():
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        started = time.monotonic()
        for i, value in enumerate(values):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            producer.produce(topics["input"], key=str(i).encode(), value=value)
            producer.poll(0)
        producer.flush(30)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    wanted = set(range(id_start, id_start + count))
    deadline = time.monotonic() + seconds + 60
    while wanted and time.monotonic() < deadline:
        for msg in reader.consume(500, timeout=0.2):
            if msg.error():
                continue
            record = json.loads(msg.value())
            if record["id"] in wanted:
                wanted.discard(record["id"])
                _, appended_ms = msg.timestamp()
                latencies.append((appended_ms - record["source"]["timestamp_ms"]) / 1000.0)
    thread.join(5)
    reader.close()
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) * 1000 if latencies else (0, 0, 0)
    return {
        "rate_per_s": rate,
        "records": count,
        "received": len(latencies),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
    }


def _throughput(classifier: Classifier, bootstrap: str, topic: str, group: str, messages: int) -> float:
    """Texts/s from the classifier's first consumed record to the commit of the `messages`-th."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        while _metric(classifier.port, "sc_records_consumed_total") == 0:
            time.sleep(0.02)
        first = time.monotonic()
        while _committed_total(probe, topic, 3) < messages:
            time.sleep(0.1)
        return messages / (time.monotonic() - first)
    finally:
        probe.close()


def _label_set_runs(
    bootstrap: str, topics: dict, counts: tuple[int, ...], messages: int, batch_size: int, workdir: Path, progress
) -> list[dict]:
    """The same backlog (its first `messages` records) labeled with 1, 3, 10 label sets: a fresh group each,
    every count run twice, in the order 1, 3, 10, 10, 3, 1, so that a drift of the machine's speed
    weighs on every count alike; the mean of the two is reported."""
    from stream_classifier_workbench.bench.label_set_mix import mixed_label_sets

    samples: dict[int, list[float]] = {n: [] for n in counts}
    for turn, n in enumerate([*counts, *reversed(counts)]):
        progress(f"label sets: {n} on one stream, {messages} messages")
        sets = mixed_label_sets(n)
        files = []
        for label_set in sets:
            path = workdir / f"sets-{n}-{label_set.name}.yaml"
            path.write_text(yaml.safe_dump(label_set.model_dump(mode="json"), allow_unicode=True))
            files.append(path)
        group = f"bench-sets-{n}-{turn}"
        classifier = Classifier(bootstrap, topics, group, batch_size, workdir, label_files=files)
        classifier.wait_ready()
        samples[n].append(_throughput(classifier, bootstrap, topics["input"], group, messages))
        classifier.stop()
    runs = [
        {
            "sets": n,
            "labels": sum(len(s.labels) for s in mixed_label_sets(n)),
            "texts_per_s": sum(samples[n]) / len(samples[n]),
            "samples": samples[n],
        }
        for n in counts
    ]
    for run in runs:
        run["vs_one_set"] = run["texts_per_s"] / runs[0]["texts_per_s"]
    return runs


def run_stream_bench(
    out_dir: Path,
    messages: int = 20000,
    batch_size: int = 32,
    latency_seconds: float = 30.0,
    label_set_counts: tuple[int, ...] = (1, 3, 10),
    label_set_messages: int = 3000,
    progress=lambda m: None,
) -> dict:
    from stream_classifier.labels import load_label_set
    from stream_classifier.model.engines import load_engine
    from stream_classifier.model.location import default_model_dir
    from stream_classifier.model.runtime import SubBatching
    from stream_classifier_workbench.building.build import build_default
    from stream_classifier_workbench.datasets.reviews import stream_texts
    from stream_classifier_workbench.devtools.kafka_broker import LocalKafka

    out_dir.mkdir(parents=True, exist_ok=True)
    model_dir = build_default(default_model_dir(), quiet=True)
    corpus = stream_texts(seed=31)
    texts = [corpus[i % len(corpus)] for i in range(messages)]
    workdir = Path(tempfile.mkdtemp(prefix="sc-bench-stream-"))
    broker = LocalKafka.single(home=workdir / "kafka", port=free_port(), controller_port=free_port())
    report: dict = {"messages": messages, "batch_size": batch_size, "max_wait_ms": MAX_WAIT_MS}
    try:
        progress("starting a broker")
        bootstrap = broker.up()
        admin = AdminClient({"bootstrap.servers": bootstrap})
        topics = {"input": "bench-in", "output": "bench-out", "dead_letter": "bench-dlq"}
        for future in admin.create_topics(
            [
                NewTopic("bench-in", 3, 1),
                NewTopic("bench-dlq", 1, 1),
                NewTopic("bench-out", 3, 1, config={"message.timestamp.type": "LogAppendTime"}),
            ]
        ).values():
            future.result(30)
        progress(f"pre-loading {messages} messages")
        _produce_all(bootstrap, topics["input"], _values(texts))

        progress("throughput: consuming the backlog")
        classifier = Classifier(bootstrap, topics, "bench", batch_size, workdir)
        classifier.wait_ready()
        stream_rate = _throughput(classifier, bootstrap, topics["input"], "bench", messages)
        report["stream"] = {"seconds": messages / stream_rate, "texts_per_s": stream_rate}

        progress("engine alone on the same texts and batch size")
        engine = load_engine(model_dir, sub_batching=SubBatching(max_texts=batch_size), cache_entries=0)
        label_set = load_label_set(LABELS)
        engine.prepare(label_set)
        engine_texts = texts[: min(messages, 4000)]
        batch_times = []
        started = time.perf_counter()
        for i in range(0, len(engine_texts), batch_size):
            t0 = time.perf_counter()
            engine.classify(engine_texts[i : i + batch_size], label_set)
            batch_times.append(time.perf_counter() - t0)
        engine_rate = len(engine_texts) / (time.perf_counter() - started)
        del engine
        report["engine"] = {
            "texts": len(engine_texts),
            "texts_per_s": engine_rate,
            "batch_p99_ms": float(np.percentile(batch_times, 99) * 1000),
        }
        report["stream_vs_engine"] = stream_rate / engine_rate

        report["latency"] = []
        for i, load in enumerate((0.5, 0.8)):
            progress(f"latency at {int(load * 100)}% of the stream throughput")
            report["latency"].append(
                {
                    "load": load,
                    **_latency_run(
                        bootstrap, topics, corpus, load * stream_rate, latency_seconds, id_start=10_000_000 * (i + 1)
                    ),
                }
            )
        report["peak_rss_mb"] = classifier.stop()
        if label_set_counts:
            report["label_sets"] = _label_set_runs(
                bootstrap, topics, label_set_counts, min(label_set_messages, messages), batch_size, workdir, progress
            )
        bound = MAX_WAIT_MS + 3 * report["engine"]["batch_p99_ms"]
        report["p99_latency_bound_ms"] = bound
        report["p99_at_50pct_within_bound"] = report["latency"][0]["p99_ms"] <= bound
    finally:
        broker.down()
        shutil.rmtree(workdir, ignore_errors=True)
    (out_dir / "bench-stream.json").write_text(json.dumps(report, indent=2) + "\n")
    _plot(report, out_dir / "bench-stream.png")
    return report


def format_stream_table(report: dict) -> str:
    lines = [
        f"{report['messages']} pre-loaded messages, batches of {report['batch_size']}, "
        f"max_batch_wait {report['max_wait_ms']} ms",
        "| measure | value |",
        "|---|---|",
        f"| stream throughput (first poll → last commit) | {report['stream']['texts_per_s']:.1f} texts/s |",
        f"| engine alone, same texts and batches | {report['engine']['texts_per_s']:.1f} texts/s |",
        f"| stream / engine | {report['stream_vs_engine']:.2f} |",
    ]
    for run in report["latency"]:
        lines.append(
            f"| e2e latency at {int(run['load'] * 100)}% load ({run['rate_per_s']:.0f}/s) p50 / p95 / p99 | "
            f"{run['p50_ms']:.0f} / {run['p95_ms']:.0f} / {run['p99_ms']:.0f} ms |"
        )
    lines.append(
        f"| bound: max_batch_wait + 3 × p99 batch inference | {report['p99_latency_bound_ms']:.0f} ms "
        f"({'met' if report['p99_at_50pct_within_bound'] else 'NOT met'} at 50%) |"
    )
    lines.append(f"| peak RSS of `stream-classifier run` | {report['peak_rss_mb']:.0f} MB |")
    for run in report.get("label_sets", []):
        lines.append(
            f"| {run['sets']} label set(s), {run['labels']} labels: stream throughput | "
            f"{run['texts_per_s']:.1f} texts/s ({run['vs_one_set']:.2f}× one set; runs "
            f"{', '.join(f'{r:.1f}' for r in run['samples'])}) |"
        )
    return "\n".join(lines)


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(
        ["engine alone", "stream"],
        [report["engine"]["texts_per_s"], report["stream"]["texts_per_s"]],
        color=["#999999", "#3b7dd8"],
    )
    left.set_ylabel("texts/s")
    left.set_title(f"throughput (stream/engine {report['stream_vs_engine']:.2f})")
    loads = [f"{int(r['load'] * 100)}%" for r in report["latency"]]
    for key, color in (("p50_ms", "#7fb3f0"), ("p95_ms", "#3b7dd8"), ("p99_ms", "#1b3d6d")):
        right.plot(loads, [r[key] for r in report["latency"]], marker="o", label=key.replace("_ms", ""), color=color)
    right.axhline(report["p99_latency_bound_ms"], color="#cc4444", linestyle="--", label="p99 bound")
    right.set_ylabel("end-to-end latency, ms")
    right.set_title("latency under steady load")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
