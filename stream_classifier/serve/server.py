"""`stream-classifier serve`: settings -> model -> engine worker -> label sets -> live view and review
queue -> uvicorn."""

from __future__ import annotations

import importlib.util
import logging
import socket
from pathlib import Path

from stream_classifier.labels import LabelSetError
from stream_classifier.observability import Health, log
from stream_classifier.settings import Settings
from stream_classifier.startup import StartupError, engine_from, exit_on_startup_error, settings_from

logger = logging.getLogger(__name__)


def build_context(settings: Settings, engine=None):
    from stream_classifier.serve.app import ServeContext
    from stream_classifier.serve.label_sets import LabelSetRegistry
    from stream_classifier.serve.live import LiveView
    from stream_classifier.serve.metrics import ServeMetrics
    from stream_classifier.serve.review_queue import ReviewQueue
    from stream_classifier.serve.worker import BatchBounds, EngineWorker

    if engine is None:
        engine = engine_from(settings)
    s = settings.serve
    metrics, health = ServeMetrics(), Health()
    bounds = BatchBounds(settings.batch.max_size, settings.batch.max_wait_ms / 1000.0, settings.batch.max_tokens)
    worker = EngineWorker(engine, bounds, s.max_queue, metrics, health, s.wait_when_idle)
    files = [*settings.labels.files, *s.label_files]
    label_sets = LabelSetRegistry(files, engine, metrics, settings.labels.watch_interval_s)
    live = LiveView(settings.kafka, settings.topics, s.live, metrics) if s.live.enabled else None
    review = (
        ReviewQueue(settings.kafka, settings.topics.review_topic, s.review, label_sets, metrics)
        if s.review.enabled
        else None
    )
    return ServeContext(s, engine, worker, label_sets, metrics, health, live, review)


def serve(config: str | Path | None, port: int | None = None) -> int:
    return exit_on_startup_error(lambda: _serve(config, port))


def _serve(config: str | Path | None, port: int | None) -> int:
    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise StartupError(
            None,
            f"stream-classifier serve needs {', '.join(missing)} (the serve extra): "
            "pip install 'stream-classifier[serve]'",
        )
    settings = settings_from(config, **({"serve": {"port": port}} if port is not None else {}))
    import uvicorn

    from stream_classifier.serve.app import create_app

    s = settings.serve
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in s.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((s.host, s.port))
    except OSError as exc:
        raise StartupError("serve.port", f"cannot listen on {s.host}:{s.port}: {exc}") from exc
    try:
        ctx = build_context(settings)
    except LabelSetError as exc:
        raise StartupError("labels", str(exc)) from exc
    bound_port = sock.getsockname()[1]
    url = f"http://{s.host}:{bound_port}/"
    log(
        logger,
        logging.INFO,
        "serving",
        url=url,
        docs=url + "docs",
        model_id=ctx.engine.model_id,
        label_sets=ctx.label_sets.names(),
        writes="enabled" if s.token else "disabled (no serve.token)",
    )
    print(f"serving on {url}", flush=True)
    server = _server_class(on_stop=lambda: setattr(ctx.health, "stopping", True))(
        uvicorn.Config(create_app(ctx), log_level="warning", access_log=False, timeout_graceful_shutdown=10)
    )
    server.run(sockets=[sock])
    return 0


def _server_class(on_stop):
    import contextlib
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after its graceful shutdown (exit -15); like the stream, a
        SIGTERM or SIGINT here drains the requests in hand and exits 0."""

        @contextlib.contextmanager
        def capture_signals(self):
            def stop(_signum, _frame):
                on_stop()  # open event streams end within a second instead of holding the shutdown
                self.should_exit = True

            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server
