"""The FastAPI application: the routers of `routes/` over one `ServeContext`, started and stopped
with the app."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from stream_classifier.serve.body_limit import BodyLimit
from stream_classifier.serve.context import ServeContext
from stream_classifier.serve.problems import field_errors, unprocessable
from stream_classifier.serve.routes import classify, label_sets, live_stream, operations

__all__ = ["ServeContext", "create_app"]


def create_app(ctx: ServeContext) -> FastAPI:
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

    app = FastAPI(
        title="stream-classifier",
        lifespan=lifespan,
        description="Zero-shot labels for texts, batched across requests on INT8 ONNX; "
        "the label sets the stream uses; a live view of the labeled stream.",
    )
    app.state.ctx = ctx
    app.add_middleware(BodyLimit, max_bytes=ctx.settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(classify.router(ctx.settings))
    for group in (label_sets, live_stream, operations):
        app.include_router(group.routes)
    app.mount("/web", StaticFiles(directory=str(operations.WEB)), name="web")
    return app


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    return unprocessable(field_errors(exc.errors()))
