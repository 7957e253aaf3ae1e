"""POST /v1/classify: texts in, labels out, batched with other requests by the engine worker."""

# no `from __future__ import annotations`: FastAPI reads the request models' annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from stream_classifier.labels import LabelSet
from stream_classifier.records import SetResult
from stream_classifier.serve.context import Context, ServeContext
from stream_classifier.serve.label_sets import UnknownLabelSet
from stream_classifier.serve.problems import label_set_problem
from stream_classifier.serve.worker import DeadlineExceeded, Job, QueueFull
from stream_classifier.settings import ServeSettings


class TextResult(BaseModel):
    label: str
    score: float
    scores: dict[str, float]
    labels: list[str] | None = None
    label_set_version: str
    model_id: str
    label_sets: dict[str, SetResult] | None = Field(
        default=None, description="with label_sets in the request: every set's result by name (the first at the top)"
    )


class ClassifyResponse(BaseModel):
    results: list[TextResult]
    label_set_version: str
    model_id: str


MAX_LABEL_SETS = 16


def request_model(settings: ServeSettings) -> type[BaseModel]:
    """The request body, its limits taken from the settings (so the OpenAPI schema shows them)."""
    Text = Annotated[str, StringConstraints(min_length=1, max_length=settings.max_text_chars)]

    class ClassifyRequest(BaseModel):
        """Texts and the name of a served label set or an inline one (neither: the stream's set)."""

        model_config = ConfigDict(extra="forbid")
        texts: list[Text] = Field(
            min_length=1,
            max_length=settings.max_texts,
            examples=[["快递三天都没到，客服也不回复", "这款手机拍照很清楚，推荐"]],
        )
        label_set: str | None = Field(
            default=None, description="name of a served label set (GET /v1/label-sets)", examples=["opinion-zh"]
        )
        inline_label_set: LabelSet | None = Field(default=None, description="a label set given in full")
        label_sets: list[str] | None = Field(
            default=None,
            min_length=1,
            max_length=MAX_LABEL_SETS,
            description="names of several served label sets: one forward pass, each set's result under label_sets",
            examples=[["opinion-zh", "sentiment"]],
        )

        @model_validator(mode="after")
        def _one_label_set(self) -> "ClassifyRequest":
            given = [self.label_set is not None, self.inline_label_set is not None, self.label_sets is not None]
            if sum(given) > 1:
                raise ValueError("give at most one of label_set (a name), inline_label_set and label_sets")
            if self.label_sets is not None and len(set(self.label_sets)) < len(self.label_sets):
                raise ValueError("label_sets names a set twice")
            return self

    return ClassifyRequest


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def router(settings: ServeSettings) -> APIRouter:
    routes = APIRouter(tags=["classify"])
    ClassifyRequest = request_model(settings)

    @routes.post(
        "/v1/classify",
        response_model=ClassifyResponse,
        response_model_exclude_none=True,
        responses={
            422: {"description": "invalid input; `error` names the field"},
            429: {"description": "queue full; see Retry-After", "headers": RETRY_AFTER},
            500: {"description": "inference failed (the engine raised; see the server log)"},
            503: {"description": "deadline passed before the engine reached the request", "headers": RETRY_AFTER},
        },
    )
    async def classify(body: ClassifyRequest, ctx: Context):
        names = body.label_sets if body.label_sets is not None else body.label_set
        return await classify_texts(ctx, body.texts, names, body.inline_label_set)

    return routes


async def classify_texts(ctx: ServeContext, texts: list[str], name: str | list[str] | None, inline: LabelSet | None):
    """`name`: a served set's name, a list of them (each text gets every set's result), or None."""
    started = time.monotonic()
    timeout_s = ctx.settings.request_timeout_s
    if inline is not None:
        label_set = inline
    else:
        try:
            if isinstance(name, list):
                label_set = [ctx.label_sets.get(n) for n in name]
            else:
                label_set = ctx.label_sets.get(name) if name is not None else ctx.label_sets.stream_set()
        except UnknownLabelSet as exc:
            ctx.metrics.serve_requests.labels(status="422").inc()
            field = "label_sets" if isinstance(name, list) else "label_set"
            return label_set_problem(field, f"no label set named {exc.args[0]!r}; served: {ctx.label_sets.names()}")
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def on_done(outcome: object) -> None:
        loop.call_soon_threadsafe(lambda: future.done() or future.set_result(outcome))

    job = Job(list(texts), label_set, started + timeout_s, on_done)
    try:
        ctx.worker.submit(job)
    except QueueFull as exc:
        ctx.metrics.serve_requests.labels(status="429").inc()
        return JSONResponse({"error": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after_s)})
    try:
        outcome = await asyncio.wait_for(asyncio.shield(future), timeout=timeout_s)
    except TimeoutError:
        outcome = DeadlineExceeded(f"no result within {timeout_s:g} s")
    finally:
        job.cancelled = True  # a job still queued is skipped by the worker
    if isinstance(outcome, DeadlineExceeded):
        ctx.metrics.serve_requests.labels(status="503").inc()
        return JSONResponse({"error": f"deadline exceeded: {outcome}"}, status_code=503, headers={"Retry-After": "1"})
    if isinstance(outcome, Exception):
        ctx.metrics.serve_requests.labels(status="500").inc()
        return JSONResponse({"error": f"inference failed: {type(outcome).__name__}: {outcome}"}, status_code=500)
    ctx.metrics.serve_requests.labels(status="200").inc()
    ctx.metrics.serve_texts.inc(len(texts))
    ctx.metrics.serve_latency.observe(time.monotonic() - started)
    first = outcome[0]
    return {"results": outcome, "label_set_version": first["label_set_version"], "model_id": first["model_id"]}
