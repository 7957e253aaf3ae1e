"""`stream-classifier run`: settings -> model -> metrics endpoint -> the pipeline loop."""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path

from stream_classifier.labels import LabelSetError
from stream_classifier.observability import Health, Metrics, ObservabilityServer, log, setup_logging
from stream_classifier.settings import SettingsError, load_settings
from stream_classifier.exit_codes import EXIT_COMMIT_STALLED, EXIT_CONFIG
from stream_classifier.stream.fault_injection import transaction_hook_from_environment
from stream_classifier.stream.kafka_clients import KafkaClients
from stream_classifier.stream.pipeline import Pipeline

logger = logging.getLogger("stream_classifier.run")


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
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(settings.logging.level, settings.logging.format)
    from stream_classifier.model.engines import load_engine
    from stream_classifier.model.location import resolve_model_dir

    metrics, health = Metrics(), Health()
    server = None
    if settings.metrics.port:
        try:
            server = ObservabilityServer(settings.metrics.host, settings.metrics.port, metrics, health).start()
        except OSError as exc:
            print(f"error: metrics.port: cannot listen on {settings.metrics.host}:{settings.metrics.port}: {exc}",
                  file=sys.stderr)
            return EXIT_CONFIG
        log(logger, logging.INFO, "metrics endpoint", url=f"http://{settings.metrics.host}:{server.port}/metrics")
    try:
        model_dir = resolve_model_dir(str(settings.model.dir) if settings.model.dir else None, settings.model.name)
        engine = load_engine(model_dir, settings.model.variant, settings.model.threads,
                             cache_entries=settings.model.cache_entries)
        pipeline = Pipeline(settings, engine, metrics, KafkaClients(settings, metrics), health,
                            in_transaction_hook=transaction_hook_from_environment())
    except LabelSetError as exc:
        print(f"error: labels.file: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (FileNotFoundError, SystemExit) as exc:
        print(f"error: model.dir: {exc}", file=sys.stderr)
        return EXIT_CONFIG
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
