"""GET /v1/review-queue/{name} and POST /v1/review-queue/{name}/answers: the stream's least sure
records for a label set, and the operator's answers (with the token), each one an example."""

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from stream_classifier.labels import LabelSetError
from stream_classifier.records import ReviewCandidate
from stream_classifier.serve.context import Context
from stream_classifier.serve.label_sets import UnknownLabelSet
from stream_classifier.serve.problems import invalid_label_set
from stream_classifier.serve.review_queue import UnknownCandidate
from stream_classifier.serve.write_token import REFUSALS, WriteRoute

routes = APIRouter(tags=["review queue"])
QUEUE_OFF = {"error": "the review queue is off (serve.review.enabled)"}


NAME = Path(description="a served label set's name (GET /v1/label-sets)", examples=["opinion-zh"])


class QueuedCandidate(ReviewCandidate):
    key: str = Field(description="what an answer names")


class ReviewQueueView(BaseModel):
    label_set: str
    version: str = Field(description="the set's version in use (candidates may come from earlier ones)")
    labels: list[str] = Field(description="the answers a candidate may get")
    writable: bool = Field(description="whether answers are enabled (serve.token is set)")
    connected: bool = Field(description="whether the server reads the review topic")
    error: str | None
    topic: str
    items: list[QueuedCandidate] = Field(description="the least sure first")


class ReviewAnswered(BaseModel):
    label_set: str
    key: str
    answer: str = Field(description="confirmed, corrected or dismissed")
    version: str = Field(description="the set's version after the answer")
    changed: bool = Field(description="whether a new version was written")


class ReviewAnswer(BaseModel):
    key: str = Field(min_length=1, max_length=1000, description="the candidate's key, as listed")
    label: str | None = Field(
        description="the right label (the one given confirms it, another corrects it): the text becomes one of "
        "its examples; null drops the text from the queue without an example"
    )


@routes.get(
    "/v1/review-queue/{name}",
    responses={200: {"model": ReviewQueueView}, 404: {"description": "no such label set, or the review queue is off"}},
)
async def review_queue(ctx: Context, name: str = NAME, limit: int = Query(default=50, ge=1, le=500)):
    """The candidates of a label set, the least sure (smallest margin between its two best labels) first."""
    if ctx.review is None:
        return JSONResponse(QUEUE_OFF, status_code=404)
    try:
        current = ctx.label_sets.get(name)
    except UnknownLabelSet:
        return JSONResponse({"error": f"no label set named {name!r}"}, status_code=404)
    return {
        "label_set": name,
        "version": current.version,
        "labels": current.names,
        "writable": ctx.settings.token is not None,
        "connected": ctx.review.connected,
        "error": ctx.review.error,
        "topic": ctx.review.topic,
        "items": ctx.review.pending(name, limit),
    }


async def answer(body: ReviewAnswer, ctx: Context, name: str = NAME):
    """Confirm, correct or drop a candidate. A label adds the text to that label's examples: a new version
    of the set is validated, encoded, written to its file and swapped in; the stream follows the file."""
    if ctx.review is None:
        return JSONResponse(QUEUE_OFF, status_code=404)
    try:
        return await run_in_threadpool(ctx.review.answer, name, body.key, body.label)
    except UnknownLabelSet:
        return JSONResponse({"error": f"no label set named {name!r}"}, status_code=404)
    except UnknownCandidate:
        return JSONResponse({"error": f"no candidate {body.key!r} queued for {name!r}"}, status_code=404)
    except LabelSetError as exc:
        return invalid_label_set(exc)


routes.add_api_route(
    "/v1/review-queue/{name}/answers",
    answer,
    methods=["POST"],
    route_class_override=WriteRoute,
    responses={
        200: {"model": ReviewAnswered},
        **REFUSALS,
        404: {"description": "no such label set or candidate, or the review queue is off"},
        422: {"description": "the label is not one of the set's; `error` names the field"},
    },
)
