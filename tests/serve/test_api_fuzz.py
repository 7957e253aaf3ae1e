"""The HTTP API fuzzed from its own OpenAPI document (schemathesis) against real `stream-classifier serve`
processes: one with `serve.token` set, one without. Every documented operation gets generated requests
(schemathesis' examples, coverage and fuzzing phases; positive and negative data; undocumented methods),
and every response goes through all of schemathesis' checks: no 5xx, the status documented, the content
type and the body valid against the documented schema, the documented headers present, invalid data
refused, 405s with a right `Allow`. Writes (operations documented to answer 401) are also sent without the
token and with wrong ones, and on the server with a token with the right one.

Afterwards both servers are still ready, and the label-set files' directory and its parent hold what they
held before, byte for byte, except, on the server with the token, the served files themselves. Generated
path names include `..`, slashes, encoded slashes, NUL and very long names (HOSTILE_NAMES), and
`test_put_with_hostile_paths_writes_nothing` sends such paths raw, unnormalised by any client.

The live view and the review queue are off (no broker needed): /v1/stream/* and /v1/review-queue/* answer
their documented 404. Deterministic: derandomized hypothesis, no example database, the global `random` seeded
(with PYTHONHASHSEED fixed too, the same cases each run; without, the same number of them).
"""

from __future__ import annotations

import hashlib
import http.client
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from serve_harness import ServeProcess

from stream_classifier.labels import load_label_set

pytestmark = pytest.mark.model
REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "configs" / "labels"
TOKEN = "fuzz-token-7"
MIN_CASES = 1000
# hypothesis' examples per operation and server in the fuzzing phase; the examples and coverage phases add
# their own deterministic cases on top: about 1,800 cases in all (1,300 without the review queue's two
# operations), in under a minute on two CPUs
MAX_EXAMPLES = 100

# path names a write must never turn into a write elsewhere (schemathesis percent-encodes them: "/" arrives
# as %2F, "%2F" as %252F); drawn in among the generated names of every operation with a {name}
HOSTILE_NAMES = [
    "..",
    ".",
    "../sentiment",
    "../../sentiment",
    "../labels/sentiment",
    "sentiment/../opinion-zh",
    "/sentiment",
    "sentiment/",
    "labels/sentiment.yaml",
    "sentiment.yaml",
    ".sentiment.yaml",
    "..%2Fsentiment",
    "%2e%2e%2fsentiment",
    "..\\sentiment",
    "sentiment\x00",
    "\x00",
    "sentiment\x00.yaml",
    "~",
    "-" * 300,
    "a" * 5000,
]

# what each fuzz run did: (server, "cases" | "requests") -> count; (server, "METHOD /path", status) -> count
COUNTS: Counter = Counter()
STATUSES: Counter = Counter()
CASES: Counter = Counter()  # (server, operation) -> generated cases
STARTED = time.monotonic()

# schemathesis: all its built-in checks (call_and_validate runs every one the config enables: all of them).
# Schema-valid (positive) data may still be refused for what JSON Schema cannot say: a label-set name no file
# serves (404 on the path, 422 in a body), a label set's own rules (unique names, at least two labels), a body
# over serve.max_body_bytes (413); and 413 is as good a refusal of invalid (negative) data as 422.
REJECTIONS = (400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429)  # schemathesis' own, and 413
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "413", "422"]},
            "negative_data_rejection": {"expected-statuses": [str(status) for status in REJECTIONS]},
        },
        "phases": {"stateful": {"enabled": False}},
        "generation": {"mode": "all", "deterministic": True},
    }
)


def _settings(labels: Path, model_dir: Path, token: str | None) -> dict:
    stream_file = labels / "opinion_zh.yaml"
    return {
        "labels": {"file": str(stream_file), "watch_interval_s": 0.2},
        "model": {"dir": str(model_dir)},
        "batch": {"max_size": 16, "max_wait_ms": 5},
        "serve": {
            "label_files": [str(f) for f in sorted(labels.glob("*.yaml")) if f != stream_file],
            "live": {"enabled": False},
            "review": {"enabled": False},
            "token": token,
            # small requests: generated ones stay quick on two CPUs (the limits show in the schema)
            "max_texts": 4,
            "max_text_chars": 200,
            "max_body_bytes": 16_384,
            "request_timeout_s": 120,
        },
        "logging": {"format": "text", "level": "WARNING"},
    }


def tree(root: Path) -> dict[str, str]:
    """Every path under `root`, hidden ones too: files with their content's hash."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = f"symlink -> {path.readlink()}"
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


class Served:
    """A serve process over copies of configs/labels/*.yaml in `home`/labels. Its config and log live in
    another directory, so `home`, the label directory's parent, changes only if the API writes there."""

    def __init__(self, tmp_path_factory, model_dir: Path, token: str | None):
        self.home = tmp_path_factory.mktemp("fuzz-home")
        self.labels = self.home / "labels"
        self.labels.mkdir()
        for f in LABELS.glob("*.yaml"):
            shutil.copy(f, self.labels / f.name)
        self.served_files = {f"labels/{f.name}" for f in self.labels.glob("*.yaml")}
        self.token = token
        self.before = tree(self.home)
        run_dir = tmp_path_factory.mktemp("fuzz-run")
        self.proc = ServeProcess(_settings(self.labels, model_dir, token), run_dir).start().wait_ready()
        self.url = self.proc.url

    def stop(self) -> None:
        log = self.proc.log_path.read_text(errors="replace")
        assert self.proc.stop() == 0, self.proc.log_tail()
        assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def served_with_token(tmp_path_factory, default_model_dir):
    served = Served(tmp_path_factory, default_model_dir, TOKEN)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def served_without_token(tmp_path_factory, default_model_dir):
    served = Served(tmp_path_factory, default_model_dir, None)
    yield served
    served.stop()


def _schema(served: Served):
    """The server's own document, as it serves it."""
    schema = schemathesis.openapi.from_url(served.url + "/openapi.json", config=CONFIG)

    @schema.hook
    def before_generate_path_parameters(context, strategy):
        if "{name}" not in context.operation.path:
            return strategy
        return st.one_of(strategy, st.sampled_from(HOSTILE_NAMES).map(lambda name: {"name": name}))

    return schema


@pytest.fixture(scope="module")
def schema_with_token(served_with_token):
    return _schema(served_with_token)


@pytest.fixture(scope="module")
def schema_without_token(served_without_token):
    return _schema(served_without_token)


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=120) as client:
        yield client


@pytest.fixture(autouse=True)
def _for_schemathesis(request):
    # schemathesis 4.32's from_fixture() renames the running node through `Node._nodeid`, which pytest 9.2 no
    # longer has (node ids are structured now); giving it one lets the subtests run (only their names are off)
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
    # some of its generation draws from the global `random` (negative values): seeded, as hypothesis' own
    # draws are by derandomize; identical cases run to run also need PYTHONHASHSEED fixed (some strategies
    # are built by iterating sets), otherwise they vary a little while the counts stay the same
    random.seed(0)


FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)


def _refused(response, *statuses: int) -> bool:
    """Refused with one of `statuses`, or before the route ran: a path no route takes (a name with a "/"), or a
    body that is not the documented JSON at all (FastAPI reads and checks it before the route runs)."""
    code = response.status_code
    return code in statuses or code in (400, 413, 422) or (code == 404 and response.json() == {"error": "Not Found"})


def _needs_token(case) -> bool:
    """A write: an operation documented to answer 401, called with its own method."""
    return "401" in case.operation.definition.raw["responses"] and case.method.upper() == case.operation.method.upper()


def _send(case, served: Served, key: str, **headers):
    COUNTS[key, "requests"] += 1
    response = case.call_and_validate(base_url=served.url, headers=headers or None)
    STATUSES[key, f"{case.method.upper()} {case.operation.path}", response.status_code] += 1
    return response


def _fuzz(case, served: Served, key: str) -> None:
    COUNTS[key, "cases"] += 1
    CASES[key, f"{case.operation.method.upper()} {case.operation.path}"] += 1
    if not _needs_token(case):
        _send(case, served, key)
        return
    if served.token is None:
        # writes are off: refused whatever the request carries
        for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
            response = _send(case, served, key, **headers)
            assert _refused(response, 403), (response.status_code, response.text)
        return
    response = _send(case, served, key)
    assert _refused(response, 401), (response.status_code, response.text)
    assert response.status_code != 401 or response.headers.get("www-authenticate") == ["Bearer"]
    for wrong in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN):
        response = _send(case, served, key, Authorization=wrong)
        assert _refused(response, 401, 403), (response.status_code, response.text)
    _send(case, served, key, Authorization=f"Bearer {TOKEN}")


@schemathesis.pytest.from_fixture("schema_with_token").parametrize()
@FUZZ_SETTINGS
def test_fuzz_with_token(case, served_with_token):
    _fuzz(case, served_with_token, "token")


@schemathesis.pytest.from_fixture("schema_without_token").parametrize()
@FUZZ_SETTINGS
def test_fuzz_without_token(case, served_without_token):
    _fuzz(case, served_without_token, "open")


# request targets as they go on the wire: no client normalises `..` or decodes %2F here
HOSTILE_TARGETS = [
    "/v1/label-sets/..",
    "/v1/label-sets/.",
    "/v1/label-sets/../label-sets/sentiment",
    "/v1/label-sets/sentiment/../opinion-zh",
    "/v1/label-sets/..%2Fsentiment",
    "/v1/label-sets/..%2F..%2Flabels%2Fsentiment",
    "/v1/label-sets/%2e%2e%2fsentiment",
    "/v1/label-sets/%2E%2E",
    "/v1/label-sets/..%5Csentiment",
    "/v1/label-sets/sentiment%2F",
    "/v1/label-sets/%2Ftmp%2Fsentiment",
    "/v1/label-sets/sentiment%00",
    "/v1/label-sets/%00",
    "/v1/label-sets/sentiment.yaml",
    "/v1/label-sets/.sentiment.yaml",
    "/v1/label-sets/sentiment%252F..",
    "/v1/label-sets/" + "a" * 8000,
    "/v1/label-sets/" + "..%2F" * 1000 + "sentiment",
]


def _raw_put(url: str, target: str, body: bytes, authorization: str | None) -> tuple[int, bytes, str | None]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.putrequest("PUT", target, skip_host=False, skip_accept_encoding=True)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        if authorization is not None:
            conn.putheader("Authorization", authorization)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Location")
    finally:
        conn.close()


@pytest.mark.parametrize("which", ["served_with_token", "served_without_token"])
def test_put_with_hostile_paths_writes_nothing(which, request):
    served: Served = request.getfixturevalue(which)
    before = tree(served.home)
    valid = yaml.safe_load((LABELS / "sentiment.yaml").read_text())
    valid["temperature"] = 0.02  # a real edit: a new version, were it accepted
    bodies = [valid, {**valid, "name": "../sentiment"}, {**valid, "name": "sentiment\x00"}]
    for target in HOSTILE_TARGETS:
        for body in bodies:
            raw = httpx.Request("PUT", "http://x", json=body).content
            for authorization in (None, f"Bearer {TOKEN}", "Bearer wrong"):
                status, answer, location = _raw_put(served.url, target, raw, authorization)
                if status == 307:
                    # "sentiment%2F" is "sentiment/": Starlette redirects it to "sentiment" (not followed here)
                    assert location == served.url + target.removesuffix("%2F"), (target, location)
                    continue
                assert status in (400, 401, 403, 404, 414, 422), (target[:80], authorization, status, answer[:300])
    assert tree(served.home) == before
    assert httpx.get(served.url + "/readyz").status_code == 200


@pytest.mark.parametrize("which", ["served_with_token", "served_without_token"])
def test_after_fuzzing_the_server_is_ready_and_wrote_only_its_files(which, request, client):
    served: Served = request.getfixturevalue(which)
    assert client.get(served.url + "/readyz").status_code == 200, served.proc.log_tail()
    assert client.get(served.url + "/healthz").status_code == 200
    after = tree(served.home)
    assert set(after) == set(served.before), set(after) ^ set(served.before)
    changed = {path for path in after if after[path] != served.before[path]}
    assert changed <= (served.served_files if served.token else set()), changed
    # the files still load, the server serves what they hold, and classify still answers
    listed = client.get(served.url + "/v1/label-sets").json()["label_sets"]
    assert {s["version"] for s in listed} == {load_label_set(served.home / f).version for f in served.served_files}
    response = client.post(served.url + "/v1/classify", json={"texts": ["快递三天都没到"]})
    assert response.status_code == 200, response.text


def test_enough_cases_were_generated():
    total = COUNTS["token", "cases"] + COUNTS["open", "cases"]
    by_operation: dict[tuple[str, str], dict[int, int]] = {}
    for (server, operation, status), n in sorted(STATUSES.items()):
        by_operation.setdefault((server, operation), {})[status] = n
    print(f"\nfuzz: {total} cases, {dict(COUNTS)}, {time.monotonic() - STARTED:.0f} s since the module was loaded")
    print("  cases per operation:", dict(sorted(CASES.items())))
    for (server, operation), statuses in by_operation.items():
        if set(statuses) != {405}:  # the undocumented methods, one 405 each
            print(f"  {server:5} {operation:40} {statuses}")
    assert total >= MIN_CASES, dict(COUNTS)
    # every documented operation was fuzzed on both servers, and writes with the token did get through
    assert {op for server, op in by_operation if server == "token"} == {op for s, op in by_operation if s == "open"}
    assert STATUSES["token", "PUT /v1/label-sets/{name}", 200] >= 1, "no write with the token succeeded"
