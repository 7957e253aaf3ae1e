"""What every endpoint reads: the settings, the engine and its worker, the label sets, metrics,
health, the live view, the review queue. Built once by `server.build_context`, held in `app.state.ctx`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from stream_classifier.model.engines import ZeroShotEngine
from stream_classifier.observability import Health
from stream_classifier.serve.label_sets import LabelSetRegistry
from stream_classifier.serve.live import LiveView
from stream_classifier.serve.metrics import ServeMetrics
from stream_classifier.serve.review_queue import ReviewQueue
from stream_classifier.serve.worker import EngineWorker
from stream_classifier.settings import ServeSettings


@dataclass
class ServeContext:
    settings: ServeSettings
    engine: ZeroShotEngine
    worker: EngineWorker
    label_sets: LabelSetRegistry
    metrics: ServeMetrics
    health: Health
    live: LiveView | None = None
    review: ReviewQueue | None = None


def _context(request: Request) -> ServeContext:
    return request.app.state.ctx


Context = Annotated[ServeContext, Depends(_context)]
