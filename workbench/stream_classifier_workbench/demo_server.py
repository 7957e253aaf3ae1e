"""`make demo`'s web page: `stream-classifier serve` started beside the demo's stream, on its topics."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml


def start_beside(config: Path, workdir: Path, cwd: Path) -> tuple[subprocess.Popen, str, str]:
    """Start the server on the stream's settings file; returns (process, URL, write token)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_urlsafe(8)
    settings = yaml.safe_load(config.read_text())
    settings["serve"] = {"port": port, "token": token, "live": {"history": 500, "bucket_s": 5}}
    serve_config = workdir / "serve.yaml"
    serve_config.write_text(yaml.safe_dump(settings, allow_unicode=True))
    log = open(workdir / "serve.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream_classifier", "serve", "--config", str(serve_config)],
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}/", token


def wait_ready(proc: subprocess.Popen, url: str, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url + "readyz", timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def least_sure(url: str, label_set: str, limit: int = 5) -> list[dict]:
    """The head of the page's review queue ([] when the server does not answer)."""
    try:
        with urllib.request.urlopen(f"{url}v1/review-queue/{label_set}?limit={limit}", timeout=5) as resp:
            return json.loads(resp.read())["items"]
    except (OSError, ValueError, KeyError):
        return []
