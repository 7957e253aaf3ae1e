"""GET /v1/label-sets, GET and PUT /v1/label-sets/{name}: the served sets, and edits with the token."""

import hmac
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from stream_classifier.labels import LabelSetError
from stream_classifier.serve.context import Context, ServeContext
from stream_classifier.serve.label_sets import UnknownLabelSet
from stream_classifier.serve.problems import invalid_label_set

routes = APIRouter(tags=["label sets"])
EXAMPLE = {
    "name": "sentiment",
    "labels": [{"name": "positive", "description": "好评"}, {"name": "negative", "description": "差评"}],
}


def describe(ctx: ServeContext, name: str) -> dict:
    current = ctx.label_sets.get(name)
    return {
        "name": name,
        "version": current.version,
        "multi_label": current.multi_label,
        "labels": current.names,
        "file": str(ctx.label_sets.path(name)),
        "label_set": current.model_dump(mode="json"),
    }


@routes.get("/v1/label-sets")
async def list_label_sets(ctx: Context):
    return {
        "label_sets": [describe(ctx, name) for name in ctx.label_sets.names()],
        "writable": ctx.settings.token is not None,
        "model_id": ctx.engine.model_id,
    }


@routes.get("/v1/label-sets/{name}")
async def get_label_set(name: str, ctx: Context):
    try:
        return describe(ctx, name)
    except UnknownLabelSet:
        return JSONResponse({"error": f"no label set named {name!r}"}, status_code=404)


@routes.put(
    "/v1/label-sets/{name}",
    responses={
        401: {"description": "no token given"},
        403: {"description": "wrong token, or writes are disabled (serve.token not configured)"},
        404: {"description": "no such set"},
        422: {"description": "invalid label set; `error` names the field"},
    },
)
async def put_label_set(
    name: str, request: Request, ctx: Context, body: dict[str, Any] = Body(..., examples=[EXAMPLE])
):
    """Validate → encode → write the set's file → swap, as the label file watcher does."""
    token = ctx.settings.token
    if token is None:
        return JSONResponse({"error": "label-set writes are disabled: serve.token is not configured"}, status_code=403)
    given = request.headers.get("authorization", "")
    if not given.lower().startswith("bearer "):
        return JSONResponse(
            {"error": "send Authorization: Bearer <serve.token>"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given[7:].strip().encode(), token.get_secret_value().encode()):
        return JSONResponse({"error": "wrong token"}, status_code=403)
    try:
        _current, changed = await run_in_threadpool(ctx.label_sets.replace, name, body)
    except UnknownLabelSet:
        return JSONResponse(
            {"error": f"no label set named {name!r}; served: {ctx.label_sets.names()}"}, status_code=404
        )
    except LabelSetError as exc:
        return invalid_label_set(exc)
    return {**describe(ctx, name), "changed": changed}
