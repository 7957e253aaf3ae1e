"""/v1/stats, /metrics, /healthz, /readyz and the page."""

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import FileResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from stream_classifier.serve.context import Context

routes = APIRouter()
WEB = resources.files("stream_classifier.serve") / "web"


class Stats(BaseModel):
    batches: int
    texts: int
    queued_texts: int
    max_batch_size: int
    max_wait_s: float
    max_tokens: int
    max_queue: int
    recent_batch_seconds: list[float]
    recent_batch_texts: list[int]
    model_id: str
    engine: str


@routes.get("/v1/stats", tags=["operations"], responses={200: {"model": Stats}})
async def stats(ctx: Context):
    """The engine worker's counters and its last batch durations (what the bench reads)."""
    w = ctx.worker
    return {
        "batches": w.batches,
        "texts": w.texts,
        "queued_texts": w.queued_texts,
        "max_batch_size": w.bounds.max_size,
        "max_wait_s": w.bounds.max_wait_s,
        "max_tokens": w.bounds.max_tokens,
        "max_queue": w.max_queue,
        "recent_batch_seconds": list(w.recent_batch_s),
        "recent_batch_texts": list(w.recent_batch_texts),
        "model_id": ctx.engine.model_id,
        "engine": ctx.engine.engine,
    }


@routes.get("/metrics", include_in_schema=False)
async def metrics(ctx: Context):
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@routes.get("/healthz", include_in_schema=False)
async def healthz(ctx: Context):
    ok = ctx.health.live() and ctx.worker.alive()
    return PlainTextResponse("ok\n" if ok else "engine worker stalled\n", status_code=200 if ok else 503)


@routes.get("/readyz", include_in_schema=False)
async def readyz(ctx: Context):
    ok = ctx.health.ready() and ctx.worker.alive()
    return PlainTextResponse("ready\n" if ok else "not ready\n", status_code=200 if ok else 503)


@routes.get("/", include_in_schema=False)
async def page():
    return FileResponse(str(WEB / "index.html"))
