"""The FastAPI application: the routers of `routes/` over one `ServeContext`, started and stopped
with the app."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from stream_classifier.serve.body_limit import BodyLimit
from stream_classifier.serve.context import ServeContext
from stream_classifier.serve.problems import document_refusals, field_errors, http_error, unprocessable
from stream_classifier.serve.routes import classify, label_sets, live_stream, operations, review

__all__ = ["ServeContext", "create_app"]


def create_app(ctx: ServeContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        ctx.worker.start()
        ctx.label_sets.start()
        if ctx.live is not None:
            ctx.live.start()
        if ctx.review is not None:
            ctx.review.start()
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
            if ctx.review is not None:
                ctx.review.stop()

    app = FastAPI(
        title="stream-classifier",
        lifespan=lifespan,
        description="Zero-shot labels for texts, batched across requests on INT8 ONNX; "
        "the label sets the stream uses; a live view of the labeled stream; the review queue of its least "
        "sure records.",
    )
    app.state.ctx = ctx
    app.add_middleware(BodyLimit, max_bytes=ctx.settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.include_router(classify.router(ctx.settings))
    for group in (label_sets, live_stream, review, operations):
        app.include_router(group.routes)
    app.mount("/web", StaticFiles(directory=str(operations.WEB)), name="web")

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document_refusals(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi
    return app


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    return unprocessable(field_errors(exc.errors()))
