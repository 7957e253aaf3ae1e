"""GET /v1/stream/snapshot and /v1/stream/events: the labeled stream as the page shows it."""

import asyncio
import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from stream_classifier.serve.context import Context

routes = APIRouter(tags=["live stream"])
SSE_INTERVAL_S = 1.0
LIVE_VIEW_OFF = {"error": "the live view is off (serve.live.enabled)"}
OFF = {404: {"description": "the live view is off (serve.live.enabled)"}}


@routes.get("/v1/stream/snapshot", responses=OFF)
async def stream_snapshot(ctx: Context, since: int = 0):
    if ctx.live is None:
        return JSONResponse(LIVE_VIEW_OFF, status_code=404)
    return ctx.live.snapshot(since)


@routes.get(
    "/v1/stream/events",
    response_class=StreamingResponse,
    responses={
        200: {"description": "an event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **OFF,
    },
)
async def stream_events(request: Request, ctx: Context):
    """Server-sent events: a snapshot every second, records new since the previous event."""
    if ctx.live is None:
        return JSONResponse(LIVE_VIEW_OFF, status_code=404)
    live = ctx.live

    async def events():
        since = 0
        while not await request.is_disconnected() and not ctx.health.stopping:
            snap = live.snapshot(since)
            since = snap["seq"]
            yield f"data: {json.dumps(snap, ensure_ascii=False)}\n\n"
            await asyncio.sleep(SSE_INTERVAL_S)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
