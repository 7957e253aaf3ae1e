"""GET /v1/label-sets, GET and PUT /v1/label-sets/{name}: the served sets, and edits with the token."""

from typing import Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from stream_classifier.labels import LabelSet, LabelSetError
from stream_classifier.serve.context import Context, ServeContext
from stream_classifier.serve.label_sets import UnknownLabelSet
from stream_classifier.serve.problems import invalid_label_set
from stream_classifier.serve.write_token import REFUSALS, WriteRoute

routes = APIRouter(tags=["label sets"])
EXAMPLE = {
    "name": "sentiment",
    "labels": [{"name": "positive", "description": "好评"}, {"name": "negative", "description": "差评"}],
}
NAME = Path(description="the set's own `name` (GET /v1/label-sets)", examples=["sentiment"])


class LabelSetInfo(BaseModel):
    name: str
    version: str = Field(description="content-addressed: any edit gives a new one")
    multi_label: bool
    labels: list[str] = Field(description="the labels' names, in order")
    file: str = Field(description="the file the set is read from and written to")
    label_set: LabelSet = Field(description="the set in full")


class LabelSetList(BaseModel):
    label_sets: list[LabelSetInfo]
    writable: bool = Field(description="whether PUT is enabled (serve.token is set)")
    model_id: str
    stream_label_set: str | None = Field(description="the stream's (first) label set: what a request naming none gets")


class LabelSetWritten(LabelSetInfo):
    changed: bool = Field(description="false when the set sent was the one in use (nothing written)")


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


@routes.get("/v1/label-sets", responses={200: {"model": LabelSetList}})
async def list_label_sets(ctx: Context):
    return {
        "label_sets": [describe(ctx, name) for name in ctx.label_sets.names()],
        "writable": ctx.settings.token is not None,
        "model_id": ctx.engine.model_id,
        "stream_label_set": ctx.label_sets.stream_name,
    }


@routes.get(
    "/v1/label-sets/{name}",
    responses={200: {"model": LabelSetInfo}, 404: {"description": "no such set"}},
)
async def get_label_set(ctx: Context, name: str = NAME):
    try:
        return describe(ctx, name)
    except UnknownLabelSet:
        return JSONResponse({"error": f"no label set named {name!r}"}, status_code=404)


async def put_label_set(ctx: Context, name: str = NAME, body: dict[str, Any] = Body(..., examples=[EXAMPLE])):
    """Validate → encode → write the set's file → swap, as the label file watcher does."""
    try:
        _current, changed = await run_in_threadpool(ctx.label_sets.replace, name, body)
    except UnknownLabelSet:
        return JSONResponse(
            {"error": f"no label set named {name!r}; served: {ctx.label_sets.names()}"}, status_code=404
        )
    except LabelSetError as exc:
        return invalid_label_set(exc)
    return {**describe(ctx, name), "changed": changed}


routes.add_api_route(
    "/v1/label-sets/{name}",
    put_label_set,
    methods=["PUT"],
    route_class_override=WriteRoute,
    responses={
        200: {"model": LabelSetWritten},
        **REFUSALS,
        404: {"description": "no such set"},
        422: {"description": "invalid label set; `error` names the field"},
    },
)
