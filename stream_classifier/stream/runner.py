"""`stream-classifier run`: settings -> model -> metrics endpoint -> the pipeline loop."""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path

from stream_classifier.exit_codes import EXIT_COMMIT_STALLED
from stream_classifier.labels import LabelSetError
from stream_classifier.observability import Health, Metrics, ObservabilityServer, log
from stream_classifier.startup import StartupError, engine_from, exit_on_startup_error, settings_from
from stream_classifier.stream.fault_injection import transaction_hook_from_environment
from stream_classifier.stream.kafka_clients import KafkaClients
from stream_classifier.stream.pipeline import Pipeline
from stream_classifier.stream.review_candidates import ReviewWriter

logger = logging.getLogger(__name__)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread heaps (default up to 8 per core): librdkafka, onnxruntime and Python
    each run several threads, and every heap keeps its own free memory resident."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc
    m_arena_max = -8
    libc.mallopt(m_arena_max, arenas)


def run(config: str | Path | None) -> int:
    limit_malloc_arenas()
    return exit_on_startup_error(lambda: _run(config))


def _run(config: str | Path | None) -> int:
    settings = settings_from(config)
    metrics, health = Metrics(), Health()
    server = None
    if settings.metrics.port:
        try:
            server = ObservabilityServer(settings.metrics.host, settings.metrics.port, metrics, health).start()
        except OSError as exc:
            raise StartupError(
                "metrics.port", f"cannot listen on {settings.metrics.host}:{settings.metrics.port}: {exc}"
            ) from exc
        log(logger, logging.INFO, "metrics endpoint", url=f"http://{settings.metrics.host}:{server.port}/metrics")
    try:
        try:
            pipeline = Pipeline(
                settings,
                engine_from(settings),
                metrics,
                KafkaClients(settings, metrics),
                health,
                in_transaction_hook=transaction_hook_from_environment(),
                review_writer=lambda: ReviewWriter.start(settings, metrics),
            )
        except LabelSetError as exc:
            raise StartupError("labels.file", str(exc)) from exc
    except BaseException:
        if server:
            server.stop()
        raise
    pipeline.install_signal_handlers()
    try:
        code = pipeline.run()
    finally:
        if server:
            server.stop()
    if code == EXIT_COMMIT_STALLED:
        # librdkafka's threads may still wait on the requests that stalled, and destroying the
        # clients at interpreter exit would wait with them: leave now, the orchestrator restarts us
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
