"""What fuzzing the HTTP API from its OpenAPI document (test_api_fuzz.py) found, each as the smallest request
that showed it, on a real `stream-classifier serve` (with a token; the live view and review queue off):

- a body that is not UTF-8 JSON got FastAPI's 400 `{"detail": ...}`, a status no operation documented;
- OPTIONS (or any other method) on /v1/label-sets/{name} answered 405 with `Allow: GET` only, while the path
  also takes PUT (Starlette lists the methods of the first route that matched the path);
- /v1/stream/snapshot and /v1/stream/events answered an undocumented 404 with the live view off;
- the framework's own refusals (404 for a path no route takes, 405) had `{"detail"}` bodies, not the
  `{"error"}` every other refusal has; 422s were documented as FastAPI's HTTPValidationError and 401/403/404
  without a body schema; the 413 of serve.max_body_bytes was not documented at all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from serve_harness import ServeProcess

pytestmark = pytest.mark.model
REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "configs" / "labels"
TOKEN = "regression-token-1"
PROBLEM = {"$ref": "#/components/schemas/Problem"}
UNPROCESSABLE = {"$ref": "#/components/schemas/Unprocessable"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, default_model_dir):
    tmp = tmp_path_factory.mktemp("serve-regressions")
    for name in ("opinion_zh.yaml", "sentiment.yaml"):
        shutil.copy(LABELS / name, tmp / name)
    settings = {
        "labels": {"file": str(tmp / "opinion_zh.yaml")},
        "model": {"dir": str(default_model_dir)},
        "serve": {
            "label_files": [str(tmp / "sentiment.yaml")],
            "token": TOKEN,
            "live": {"enabled": False},
            "review": {"enabled": False},
        },
        "logging": {"format": "text", "level": "WARNING"},
    }
    proc = ServeProcess(settings, tmp).start().wait_ready()
    yield proc
    assert proc.stop() == 0, proc.log_tail()


@pytest.fixture(scope="module")
def document(server) -> dict:
    return httpx.get(server.url + "/openapi.json").json()


def _documented(document: dict, method: str, path: str, status: int) -> dict:
    responses = document["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, (method, path, status, sorted(responses))
    return responses[str(status)]["content"]["application/json"]["schema"]


@pytest.mark.parametrize(
    "method, path, url",
    [("POST", "/v1/classify", "/v1/classify"), ("PUT", "/v1/label-sets/{name}", "/v1/label-sets/x")],
)
def test_a_body_that_is_not_utf8_json_is_a_documented_400(server, document, method, path, url):
    # found as: curl -X POST -H 'Content-Type: application/json' -d $'\xff' /v1/classify  -> 400, undocumented
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    response = httpx.request(method, server.url + url, content=b"\xff", headers=headers)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "There was an error parsing the body"}
    assert _documented(document, method, path, 400) == PROBLEM


def test_a_405_allows_every_method_of_the_path(server):
    # found as: curl -X OPTIONS /v1/label-sets/0  -> 405 with `Allow: GET` (the path also takes PUT)
    for method in ("OPTIONS", "DELETE", "POST", "PATCH"):
        response = httpx.request(method, server.url + "/v1/label-sets/sentiment")
        assert response.status_code == 405, (method, response.text)
        assert response.headers["Allow"] == "GET, PUT"
        assert response.json() == {"error": "Method Not Allowed"}
    assert httpx.delete(server.url + "/v1/classify").headers["Allow"] == "POST"
    assert httpx.put(server.url + "/v1/label-sets").headers["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/v1/stream/snapshot", "/v1/stream/events"])
def test_the_live_view_off_is_a_documented_404(server, document, path):
    # found as: curl /v1/stream/snapshot  -> 404, undocumented (the live view is off)
    response = httpx.get(server.url + path)
    assert response.status_code == 404
    assert response.json() == {"error": "the live view is off (serve.live.enabled)"}
    assert _documented(document, "GET", path, 404) == PROBLEM


def test_a_path_no_route_takes_is_a_problem(server, document):
    # found as: PUT /v1/label-sets/..%2Fsentiment  -> the router's 404, `{"detail": "Not Found"}`
    for url in ("/v1/label-sets/..%2Fsentiment", "/v1/label-sets/a%2Fb", "/no-such-path"):
        response = httpx.put(server.url + url, json={}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 404, (url, response.text)
        assert response.json() == {"error": "Not Found"}
    assert _documented(document, "PUT", "/v1/label-sets/{name}", 404) == PROBLEM


def test_a_422_has_the_documented_shape(server, document):
    # FastAPI documented its HTTPValidationError; the handler answers `error` plus one entry per field
    response = httpx.get(server.url + "/v1/stream/snapshot", params={"since": "x"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "query.since: Input should be a valid integer, unable to parse string as an integer"
    assert body["detail"] == [
        {
            "loc": ["query", "since"],
            "field": "query.since",
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        }
    ]
    assert _documented(document, "GET", "/v1/stream/snapshot", 422) == UNPROCESSABLE
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_refusal_is_documented_with_its_body(document):
    """Every error response has a body schema (`Problem`, `Unprocessable` for 422), and every operation that
    reads a body documents the 400 and 413 it may get before it runs."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "requestBody" in operation:
                assert {"400", "413"} <= set(responses), (method, path)
            for status, response in responses.items():
                if int(status) >= 400:
                    expected = UNPROCESSABLE if status == "422" else PROBLEM
                    assert response["content"]["application/json"]["schema"] == expected, (method, path, status)
    put = document["paths"]["/v1/label-sets/{name}"]["put"]["responses"]
    assert "WWW-Authenticate" in put["401"]["headers"]
    assert "Retry-After" in document["paths"]["/v1/classify"]["post"]["responses"]["429"]["headers"]


def test_an_oversized_body_is_a_documented_413(server, document):
    response = httpx.post(server.url + "/v1/classify", content=b"x" * 1_100_000)
    assert response.status_code == 413
    assert response.json() == {"error": "request body over 1048576 bytes (serve.max_body_bytes)"}
    assert _documented(document, "POST", "/v1/classify", 413) == PROBLEM
