"""`stream-classifier bench serve`: the HTTP API against the origin's per-request handler.

Two real uvicorn servers on this machine, the same model, label set and engine settings, the
repeat cache off in both (every text is distinct anyway):
- ours: `stream-classifier serve` — one engine worker coalescing requests into micro-batches;
- naive: `stream_classifier_workbench.bench.naive_server` — a blocking FastAPI handler running the engine once per
  request (FastAPI's thread pool runs up to 40 of them at once).
For 1, 8 and 64 concurrent clients (asyncio + httpx, keep-alive), each sending one real review
per request for a fixed time, both servers are measured in the same run, back to back, with the
other one idle. Requests/s and p50/p99 latency per server; for ours also the batches it ran
(from its /v1/stats), so the p99 bound (max_wait + 3 × p99 batch time) uses its own batch times.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import yaml

from stream_classifier.labels import DEFAULT_LABEL_FILE
from stream_classifier.model.cpu_features import cpu_features
from stream_classifier_workbench.checkout import REPO
from stream_classifier_workbench.datasets.reviews import stream_texts
from stream_classifier_workbench.devtools.ports import free_port

LABELS = DEFAULT_LABEL_FILE
MAX_WAIT_MS = 50  # the stream's default (configs/default.yaml)
MAX_BATCH = 64


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


class Server:
    def __init__(self, name: str, argv: list[str], port: int, workdir: Path):
        self.name, self.port = name, port
        self.log_path = workdir / f"{name}.log"
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=open(self.log_path, "wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.name} server not ready after {timeout}s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def _load(url: str, texts: list[str], clients: int, seconds: float, label_set: str) -> dict:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_text = [0]
    stop_at = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            text = texts[next_text[0] % len(texts)]
            next_text[0] += 1
            started = time.monotonic()
            try:
                response = await http.post(url + "/v1/classify", json={"texts": [text], "label_set": label_set})
            except httpx.HTTPError as exc:  # counted, not fatal: the table shows them
                key = type(exc).__name__
                statuses[key] = statuses.get(key, 0) + 1
                await asyncio.sleep(0.05)
                continue
            if response.status_code == 200:
                latencies.append(time.monotonic() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        began = time.monotonic()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.monotonic() - began
    lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "clients": clients,
        "requests": len(latencies),
        "statuses": statuses,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
    }


def run_serve_bench(
    out_dir: Path, seconds: float = 20.0, clients: tuple[int, ...] = (1, 8, 64), progress=print
) -> dict:
    from stream_classifier.labels import load_label_set
    from stream_classifier.model.location import resolve_model_dir

    out_dir.mkdir(parents=True, exist_ok=True)
    model_dir = resolve_model_dir(None)
    label_set = load_label_set(LABELS)
    texts = [t[:400] for t in stream_texts()]
    workdir = Path(tempfile.mkdtemp(prefix="sc-bench-serve-"))
    config = workdir / "serve.yaml"
    ours_port, naive_port = free_port(), free_port()
    config.write_text(
        yaml.safe_dump(
            {
                "labels": {"file": str(LABELS)},
                "model": {"dir": str(model_dir), "cache_entries": 0},
                "batch": {"max_size": MAX_BATCH, "max_wait_ms": MAX_WAIT_MS},
                "serve": {"port": ours_port, "max_queue": 4096, "request_timeout_s": 60, "live": {"enabled": False}},
                "logging": {"level": "WARNING", "format": "text"},
            }
        )
    )
    servers = {
        "ours": Server(
            "ours", [sys.executable, "-m", "stream_classifier", "serve", "--config", str(config)], ours_port, workdir
        ),
        "naive": Server(
            "naive",
            [
                sys.executable,
                "-m",
                "stream_classifier_workbench.bench.naive_server",
                "--model",
                str(model_dir),
                "--labels",
                str(LABELS),
                "--port",
                str(naive_port),
            ],
            naive_port,
            workdir,
        ),
    }
    runs: list[dict] = []
    try:
        for server in servers.values():
            server.wait_ready()
        progress("servers ready; warming up")
        for server in servers.values():
            asyncio.run(_load(server.url, texts[-200:], 4, 3.0, label_set.name))
        offset = 0
        for n in clients:
            for name, server in servers.items():
                before = _get_json(server.url + "/v1/stats") if name == "ours" else None
                run = asyncio.run(_load(server.url, texts[offset:], n, seconds, label_set.name))
                offset += run["requests"] + n  # distinct texts per run
                run["server"] = name
                if before is not None:
                    after = _get_json(server.url + "/v1/stats")
                    batches = after["batches"] - before["batches"]
                    durations = np.array(after["recent_batch_seconds"][-batches:]) * 1000 if batches else np.zeros(1)
                    sizes = after["recent_batch_texts"][-batches:] if batches else [0]
                    run.update(
                        batches=batches,
                        texts_per_batch=round(float(np.mean(sizes)), 1),
                        batch_p99_ms=round(float(np.percentile(durations, 99)), 1),
                        p99_bound_ms=round(MAX_WAIT_MS + 3 * float(np.percentile(durations, 99)), 1),
                    )
                run["server_alive_after"] = server.proc.poll() is None
                runs.append(run)
                progress(
                    f"{name:5s} {n:3d} clients: {run['requests_per_s']:.1f} req/s, p50 {run['p50_ms']:.0f} ms, "
                    f"p99 {run['p99_ms']:.0f} ms, statuses {run['statuses']}"
                    + (f", {run['batches']} batches of {run['texts_per_batch']}" if name == "ours" else "")
                )
    finally:
        for server in servers.values():
            server.stop()
            shutil.copy(server.log_path, out_dir / f"bench-serve-{server.name}.log")
        shutil.rmtree(workdir, ignore_errors=True)
    progress("engine alone: one text per call vs batches of 64, same texts")
    report_ceiling = _engine_batch_gain(model_dir, label_set, texts[offset : offset + 256])
    report = {
        "engine_ceiling": report_ceiling,
        "seconds_per_run": seconds,
        "max_wait_ms": MAX_WAIT_MS,
        "max_batch": MAX_BATCH,
        "label_set": label_set.version,
        "cpu": cpu_features().describe(),
        "cores": len(os.sched_getaffinity(0)),
        "runs": runs,
    }
    top = max(clients)
    ours = next(r for r in runs if r["server"] == "ours" and r["clients"] == top)
    naive = next(r for r in runs if r["server"] == "naive" and r["clients"] == top)
    report["top_clients"] = top
    report["throughput_ratio_at_top"] = round(ours["requests_per_s"] / max(naive["requests_per_s"], 1e-9), 2)
    report["throughput_bar_met"] = report["throughput_ratio_at_top"] >= 5.0
    report["p99_bar_met"] = ours["p99_ms"] <= ours["p99_bound_ms"]
    (out_dir / "bench-serve.json").write_text(json.dumps(report, indent=2) + "\n")
    _plot(report, out_dir / "bench-serve.png")
    return report


def _engine_batch_gain(model_dir: Path, label_set, texts: list[str], passes: int = 2) -> dict:
    """What batching can win at most here: the engine alone, in this process, on the same texts one
    per call and in batches of MAX_BATCH, passes interleaved; no HTTP, no cache."""
    from stream_classifier.model.engines import load_engine

    engine = load_engine(model_dir, cache_entries=0)
    engine.classify(texts[:8], label_set)  # warm-up, label encoding
    timings = {"one_per_call": [], "batches": []}
    for _ in range(passes):
        started = time.perf_counter()
        for text in texts:
            engine.classify([text], label_set)
        timings["one_per_call"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(0, len(texts), MAX_BATCH):
            engine.classify(texts[i : i + MAX_BATCH], label_set)
        timings["batches"].append(time.perf_counter() - started)
    one = len(texts) / float(np.median(timings["one_per_call"]))
    batched = len(texts) / float(np.median(timings["batches"]))
    return {
        "texts": len(texts),
        "one_per_call_texts_per_s": round(one, 1),
        "batched_texts_per_s": round(batched, 1),
        "batch_gain": round(batched / one, 2),
    }


def format_serve_table(report: dict) -> str:
    lines = [
        f"one text per request, {report['seconds_per_run']:g} s per run, batches ≤ {report['max_batch']} texts, "
        f"max_wait {report['max_wait_ms']} ms; {report['cpu']}, {report['cores']} cores",
        "| clients | server | requests/s | × naive | p50 ms | p99 ms | batches | texts/batch | "
        "bound: wait + 3 × p99 batch ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    naive_rps = {r["clients"]: r["requests_per_s"] for r in report["runs"] if r["server"] == "naive"}
    for r in report["runs"]:
        ratio = r["requests_per_s"] / max(naive_rps.get(r["clients"], 0), 1e-9)
        extra = (
            f"{r['batches']} | {r['texts_per_batch']} | {r['p99_bound_ms']:.0f}" if r["server"] == "ours" else " |  | "
        )
        lines.append(
            f"| {r['clients']} | {r['server']} | {r['requests_per_s']:.1f} | {ratio:.2f} | "
            f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {extra} |"
        )
    c = report["engine_ceiling"]
    lines.append(
        f"\nengine alone on {c['texts']} of the texts, no HTTP: one per call {c['one_per_call_texts_per_s']:.1f} "
        f"texts/s, batches of {report['max_batch']} {c['batched_texts_per_s']:.1f} texts/s "
        f"(batching gains {c['batch_gain']:.2f}x at most)"
    )
    lines.append(
        f"at {report['top_clients']} clients: {report['throughput_ratio_at_top']:.2f}x the naive handler "
        f"(bar ≥ 5x: {'met' if report['throughput_bar_met'] else 'NOT met'}); p99 within wait + 3 × p99 "
        f"batch: {'met' if report['p99_bar_met'] else 'NOT met'}"
    )
    return "\n".join(lines)


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    clients = sorted({r["clients"] for r in report["runs"]})
    width = 0.38
    for k, (name, color) in enumerate((("naive", "#999999"), ("ours", "#3b7dd8"))):
        rows = {r["clients"]: r for r in report["runs"] if r["server"] == name}
        xs = [i + (k - 0.5) * width for i in range(len(clients))]
        left.bar(xs, [rows[c]["requests_per_s"] for c in clients], width, label=name, color=color)
        right.bar(xs, [rows[c]["p99_ms"] for c in clients], width, label=f"{name} p99", color=color)
        right.scatter(
            xs,
            [rows[c]["p50_ms"] for c in clients],
            color="black",
            s=12,
            zorder=3,
            label="p50" if name == "ours" else None,
        )
    ours = {r["clients"]: r for r in report["runs"] if r["server"] == "ours"}
    right.scatter(
        [i + 0.5 * width for i in range(len(clients))],
        [ours[c]["p99_bound_ms"] for c in clients],
        marker="_",
        s=400,
        color="#cc4444",
        label="p99 bound (ours)",
        zorder=4,
    )
    for ax in (left, right):
        ax.set_xticks(range(len(clients)), [f"{c} clients" for c in clients])
        ax.legend()
    left.set_ylabel("requests/s (one text each)")
    left.set_title(f"throughput ({report['throughput_ratio_at_top']:.2f}x naive at {report['top_clients']})")
    right.set_ylabel("latency, ms")
    right.set_title("latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
