"""The error answers: every refusal is `{"error": "<one line>"}` (a `Problem`); a 422 adds one entry per
field at fault (`Unprocessable`). `document_refusals` puts them in the OpenAPI document: a route declares
its error statuses with a description only, and the document gets their body schemas, and the 400 and 413
that any route reading a body may answer before it runs."""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount

from stream_classifier.labels import LabelSetError


class Problem(BaseModel):
    """Why the request was refused, in one line."""

    error: str


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description='where in the request: ["body", "texts", 1]')
    field: str = Field(description='the same, dotted and without "body": "texts.1" ("" for the whole body)')
    msg: str
    type: str


class Unprocessable(BaseModel):
    """Invalid input: `error` names every field at fault, `detail` has one entry per field."""

    error: str
    detail: list[FieldProblem]


# what a route that reads a body may answer before it runs: FastAPI cannot read the JSON (400), the
# BodyLimit middleware refuses its size (413)
BODY_REFUSALS = {
    "400": "the body cannot be read as JSON (e.g. it is not UTF-8)",
    "413": "the body is over serve.max_body_bytes",
}
_COMPONENTS = "#/components/schemas/"


def document_refusals(doc: dict) -> dict:
    """Give every error response of the document (`doc`, changed in place) its body schema: `Unprocessable`
    for 422 (instead of FastAPI's HTTPValidationError, which is not what the handler answers), `Problem` for
    the others; and add 400 and 413 to every operation that reads a body."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, Unprocessable):
        found = model.model_json_schema(ref_template=_COMPONENTS + "{model}")
        schemas.update(found.pop("$defs", {}))
        schemas[model.__name__] = found
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                for status, description in BODY_REFUSALS.items():
                    responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if not (status.isdigit() and int(status) >= 400):
                    continue
                model = Unprocessable if status == "422" else Problem
                content = response.setdefault("content", {}).setdefault("application/json", {})
                if status == "422" or not content.get("schema"):
                    content["schema"] = {"$ref": _COMPONENTS + model.__name__}
    for name in ("HTTPValidationError", "ValidationError"):  # in this order: the first refers to the second
        others = {key: value for key, value in schemas.items() if key != name}
        if name in schemas and f'"{_COMPONENTS}{name}"' not in json.dumps([doc["paths"], others]):
            del schemas[name]
    return doc


def field_errors(errors) -> list[dict]:
    # the offending input is left out: it may be a 1 MB text
    return [
        {
            "loc": list(e["loc"]),
            "field": ".".join(str(p) for p in e["loc"] if p != "body"),
            "msg": e["msg"],
            "type": e["type"],
        }
        for e in errors
    ]


def unprocessable(errors: list[dict]) -> JSONResponse:
    summary = "; ".join(f"{e['field'] or '(body)'}: {e['msg']}" for e in errors)
    return JSONResponse({"error": summary, "detail": errors}, status_code=422)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """The framework's own refusals (no route 404, 405, an unreadable body's 400) as a `Problem`; a 405's
    `Allow` lists every method of the path, not only those of the first route that matched it."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    if not is_body_allowed_for_status_code(exc.status_code):
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route (not a mount: the page's files answer their own) takes at the request's path."""
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    return [
        method
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def label_set_problem(field: str, message: str) -> JSONResponse:
    return unprocessable([_label_set_error(field, message)])


def invalid_label_set(exc: LabelSetError, within: str = "") -> JSONResponse:
    """`within`: where the set sits in the request body ("" when the body is the set)."""
    return unprocessable(
        [
            _label_set_error(_field(field, within), message.removeprefix("Value error, "))
            for field, message in exc.problems
        ]
    )


def _field(field: str, within: str) -> str:
    if field == "(top level)":  # a check across the labels
        field = "labels"
    if not field:
        return within or "(body)"
    return f"{within}.{field}" if within else field


def _label_set_error(field: str, message: str) -> dict:
    loc = ["body"] if field == "(body)" else ["body", *field.split(".")]
    return {"loc": loc, "field": field, "msg": message, "type": "label_set"}
