"""The FastAPI application: classify, label sets, the live stream, metrics, health, the page."""

# no `from __future__ import annotations`: FastAPI reads the request models defined inside create_app

import asyncio
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from stream_classifier.labels import LabelSet, LabelSetError
from stream_classifier.model.engines import ZeroShotEngine
from stream_classifier.observability import Health
from stream_classifier.serve.body_limit import BodyLimit
from stream_classifier.serve.config import ServeSettings
from stream_classifier.serve.label_sets import LabelSetRegistry, UnknownLabelSet
from stream_classifier.serve.live import LiveView
from stream_classifier.serve.metrics import ServeMetrics
from stream_classifier.serve.worker import DeadlineExceeded, EngineWorker, Job, QueueFull

WEB = resources.files("stream_classifier.serve") / "web"
SSE_INTERVAL_S = 1.0


@dataclass
class ServeContext:
    settings: ServeSettings
    engine: ZeroShotEngine
    worker: EngineWorker
    label_sets: LabelSetRegistry
    metrics: ServeMetrics
    health: Health
    live: LiveView | None = None


def _field_errors(errors) -> list[dict]:
    # the offending input is left out: it may be a 1 MB text
    return [{"loc": list(e["loc"]), "field": ".".join(str(p) for p in e["loc"] if p != "body"),
             "msg": e["msg"], "type": e["type"]} for e in errors]


def _unprocessable(errors: list[dict]) -> JSONResponse:
    summary = "; ".join(f"{e['field'] or '(body)'}: {e['msg']}" for e in errors)
    return JSONResponse({"error": summary, "detail": errors}, status_code=422)


def _label_set_problem(field: str, message: str) -> JSONResponse:
    return _unprocessable([{"loc": ["body", *field.split(".")], "field": field, "msg": message,
                            "type": "label_set"}])


def create_app(ctx: ServeContext) -> FastAPI:
    s = ctx.settings
    Text = Annotated[str, StringConstraints(min_length=1, max_length=s.max_text_chars)]

    class ClassifyRequest(BaseModel):
        """Texts and either the name of a served label set or an inline one."""

        model_config = ConfigDict(extra="forbid")
        texts: list[Text] = Field(min_length=1, max_length=s.max_texts,
                                  examples=[["快递三天都没到，客服也不回复", "这款手机拍照很清楚，推荐"]])
        label_set: str | None = Field(default=None, description="name of a served label set (GET /v1/label-sets)",
                                      examples=["opinion-zh"])
        inline_label_set: LabelSet | None = Field(default=None, description="a label set given in full")

        @model_validator(mode="after")
        def _one_label_set(self) -> "ClassifyRequest":
            if (self.label_set is None) == (self.inline_label_set is None):
                raise ValueError("give exactly one of label_set (a name) and inline_label_set")
            return self

    class TextResult(BaseModel):
        label: str
        score: float
        scores: dict[str, float]
        labels: list[str] | None = None
        label_set_version: str
        model_id: str

    class ClassifyResponse(BaseModel):
        results: list[TextResult]
        label_set_version: str
        model_id: str

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        ctx.worker.start()
        ctx.label_sets.start()
        if ctx.live is not None:
            ctx.live.start()
        ctx.health.model_loaded = True
        ctx.health.assigned = True  # the API has no partitions to wait for
        try:
            yield
        finally:
            ctx.health.stopping = True
            ctx.worker.stop()
            ctx.label_sets.stop()
            if ctx.live is not None:
                ctx.live.stop()

    app = FastAPI(title="stream-classifier", lifespan=lifespan,
                  description="Zero-shot labels for texts, batched across requests on INT8 ONNX; "
                              "the label sets the stream uses; a live view of the labeled stream.")
    app.add_middleware(BodyLimit, max_bytes=s.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _unprocessable(_field_errors(exc.errors()))

    @app.post("/v1/classify", response_model=ClassifyResponse, response_model_exclude_none=True, tags=["classify"],
              responses={422: {"description": "invalid input; `error` names the field"},
                         429: {"description": "queue full; see Retry-After"},
                         503: {"description": "deadline passed before the engine reached the request"}})
    async def classify(body: ClassifyRequest):
        started = time.monotonic()
        if body.inline_label_set is not None:
            label_set = body.inline_label_set
        else:
            try:
                label_set = ctx.label_sets.get(body.label_set)
            except UnknownLabelSet:
                ctx.metrics.serve_requests.labels(status="422").inc()
                return _label_set_problem("label_set", f"no label set named {body.label_set!r}; served: "
                                          f"{ctx.label_sets.names()}")
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def on_done(outcome: object) -> None:
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result(outcome))

        job = Job(list(body.texts), label_set, started + s.request_timeout_s, on_done)
        try:
            ctx.worker.submit(job)
        except QueueFull as exc:
            ctx.metrics.serve_requests.labels(status="429").inc()
            return JSONResponse({"error": str(exc)}, status_code=429,
                                headers={"Retry-After": str(exc.retry_after_s)})
        try:
            outcome = await asyncio.wait_for(asyncio.shield(future), timeout=s.request_timeout_s)
        except asyncio.TimeoutError:
            outcome = DeadlineExceeded(f"no result within {s.request_timeout_s:g} s")
        finally:
            job.cancelled = True  # a job still queued is skipped by the worker
        if isinstance(outcome, DeadlineExceeded):
            ctx.metrics.serve_requests.labels(status="503").inc()
            return JSONResponse({"error": f"deadline exceeded: {outcome}"}, status_code=503,
                                headers={"Retry-After": "1"})
        if isinstance(outcome, Exception):
            ctx.metrics.serve_requests.labels(status="500").inc()
            return JSONResponse({"error": f"inference failed: {type(outcome).__name__}: {outcome}"},
                                status_code=500)
        ctx.metrics.serve_requests.labels(status="200").inc()
        ctx.metrics.serve_texts.inc(len(body.texts))
        ctx.metrics.serve_latency.observe(time.monotonic() - started)
        first = outcome[0]
        return {"results": outcome, "label_set_version": first["label_set_version"], "model_id": first["model_id"]}

    def _describe(name: str) -> dict:
        current = ctx.label_sets.get(name)
        return {"name": name, "version": current.version, "multi_label": current.multi_label,
                "labels": current.names, "file": str(ctx.label_sets.path(name)),
                "label_set": current.model_dump(mode="json")}

    @app.get("/v1/label-sets", tags=["label sets"])
    async def list_label_sets():
        return {"label_sets": [_describe(name) for name in ctx.label_sets.names()],
                "writable": s.token is not None, "model_id": ctx.engine.model_id}

    @app.get("/v1/label-sets/{name}", tags=["label sets"])
    async def get_label_set(name: str):
        try:
            return _describe(name)
        except UnknownLabelSet:
            return JSONResponse({"error": f"no label set named {name!r}"}, status_code=404)

    @app.put("/v1/label-sets/{name}", tags=["label sets"],
             responses={401: {"description": "no token given"}, 403: {"description": "wrong token, or "
                        "writes are disabled (serve.token not configured)"}, 404: {"description": "no such set"},
                        422: {"description": "invalid label set; `error` names the field"}})
    async def put_label_set(name: str, request: Request, body: dict[str, Any] = Body(
            ..., examples=[{"name": "sentiment", "labels": [{"name": "positive", "description": "好评"},
                                                             {"name": "negative", "description": "差评"}]}])):
        """Validate → encode → write the set's file → swap, as the label file watcher does."""
        if s.token is None:
            return JSONResponse({"error": "label-set writes are disabled: serve.token is not configured"},
                                status_code=403)
        given = request.headers.get("authorization", "")
        if not given.lower().startswith("bearer "):
            return JSONResponse({"error": "send Authorization: Bearer <serve.token>"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        if not _same_secret(given[7:].strip(), s.token.get_secret_value()):
            return JSONResponse({"error": "wrong token"}, status_code=403)
        try:
            from starlette.concurrency import run_in_threadpool

            current, changed = await run_in_threadpool(ctx.label_sets.replace, name, body)
        except UnknownLabelSet:
            return JSONResponse({"error": f"no label set named {name!r}; served: {ctx.label_sets.names()}"},
                                status_code=404)
        except LabelSetError as exc:
            return _label_set_problem(*_field_and_message(str(exc)))
        return {**_describe(name), "changed": changed}

    @app.get("/v1/stats", tags=["operations"])
    async def stats():
        """The engine worker's counters and its last batch durations (what the bench reads)."""
        w = ctx.worker
        return {"batches": w.batches, "texts": w.texts, "queued_texts": w.queued_texts,
                "max_batch_size": w.bounds.max_size, "max_wait_s": w.bounds.max_wait_s,
                "max_tokens": w.bounds.max_tokens, "max_queue": w.max_queue,
                "recent_batch_seconds": list(w.recent_batch_s), "recent_batch_texts": list(w.recent_batch_texts),
                "model_id": ctx.engine.model_id, "engine": ctx.engine.engine}

    @app.get("/v1/stream/snapshot", tags=["live stream"])
    async def stream_snapshot(since: int = 0):
        if ctx.live is None:
            return JSONResponse({"error": "the live view is off (serve.live.enabled)"}, status_code=404)
        return ctx.live.snapshot(since)

    @app.get("/v1/stream/events", tags=["live stream"])
    async def stream_events(request: Request):
        """Server-sent events: a snapshot every second, records new since the previous event."""
        if ctx.live is None:
            return JSONResponse({"error": "the live view is off (serve.live.enabled)"}, status_code=404)

        async def events():
            since = 0
            while not await request.is_disconnected() and not ctx.health.stopping:
                snap = ctx.live.snapshot(since)
                since = snap["seq"]
                yield f"data: {json.dumps(snap, ensure_ascii=False)}\n\n"
                await asyncio.sleep(SSE_INTERVAL_S)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics():
        return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        ok = ctx.health.live() and ctx.worker.alive()
        return PlainTextResponse("ok\n" if ok else "engine worker stalled\n", status_code=200 if ok else 503)

    @app.get("/readyz", include_in_schema=False)
    async def readyz():
        ok = ctx.health.ready() and ctx.worker.alive()
        return PlainTextResponse("ready\n" if ok else "not ready\n", status_code=200 if ok else 503)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(str(WEB / "index.html"))

    app.mount("/web", StaticFiles(directory=str(WEB)), name="web")
    return app


def _field_and_message(error: str) -> tuple[str, str]:
    """'label set 'x': labels.0.name: msg' -> ('labels.0.name', 'msg'); checks across labels name `labels`."""
    if error.startswith("label set "):
        error = error.split(": ", 1)[1]
    field, _, message = error.partition(": ")
    if not message:
        return "(body)", error
    if field == "(top level)":
        field = "labels"
    return field, message.removeprefix("Value error, ")


def _same_secret(given: str, expected: str) -> bool:
    import hmac

    return hmac.compare_digest(given.encode(), expected.encode())
