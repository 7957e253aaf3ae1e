"""422 answers: one entry per field at fault, and a summary line that names them."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from stream_classifier.labels import LabelSetError


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
