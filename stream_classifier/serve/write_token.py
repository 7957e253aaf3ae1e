"""The write token: what every request that changes a label set must carry."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import SecretStr

REFUSALS = {
    401: {
        "description": "no token given",
        "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    },
    403: {"description": "wrong token, or writes are disabled (serve.token not configured)"},
}


def refusal(request: Request, token: SecretStr | None) -> JSONResponse | None:
    """None when the request carries `Authorization: Bearer <serve.token>`; the 401/403 answer otherwise."""
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
    return None


class WriteRoute(APIRoute):
    """A route whose token is checked before its body is read: a caller without the token learns
    nothing about what a valid body looks like (a 422 would tell it)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            refused = refusal(request, request.app.state.ctx.settings.token)
            return refused if refused is not None else await handler(request)

        return guarded
