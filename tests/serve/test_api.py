"""The HTTP API on a real uvicorn (a `stream-classifier serve` subprocess), hit by real concurrent clients."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from serve_harness import ServeProcess

from stream_classifier.labels import load_label_set
from stream_classifier_workbench.datasets.reviews import stream_texts

pytestmark = pytest.mark.model
REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "configs" / "labels"
TOKEN = "desk-token-1"


def _settings(tmp: Path, model_dir: Path, **serve) -> dict:
    for name in ("opinion_zh.yaml", "sentiment.yaml"):
        if not (tmp / name).exists():
            shutil.copy(LABELS / name, tmp / name)
    return {
        "labels": {"file": str(tmp / "opinion_zh.yaml"), "watch_interval_s": 0.2},
        "model": {"dir": str(model_dir)},
        "batch": {"max_size": 64, "max_wait_ms": 50},
        "serve": {"label_files": [str(tmp / "sentiment.yaml")], "live": {"enabled": False}, **serve},
        "logging": {"format": "text", "level": "INFO"},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory, default_model_dir):
    tmp = tmp_path_factory.mktemp("serve")
    proc = ServeProcess(_settings(tmp, default_model_dir, token=TOKEN), tmp).start().wait_ready()
    proc.tmp = tmp
    yield proc
    assert proc.stop() == 0, proc.log_tail()


async def _concurrently(url: str, payloads: list[dict], method: str = "POST", path: str = "/v1/classify"):
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=len(payloads))) as http:
        return await asyncio.gather(*(http.request(method, url + path, json=p) for p in payloads))


def test_concurrent_requests_share_micro_batches_and_score_as_the_engine_does(server, default_model_dir):
    from stream_classifier.model.engines import load_engine

    texts = [t for t in stream_texts(seed=11) if 5 < len(t) < 200][:48]
    batches_before = server.metric("sc_batch_size_count")
    responses = asyncio.run(_concurrently(server.url, [{"texts": [t], "label_set": "opinion-zh"} for t in texts]))
    assert [r.status_code for r in responses] == [200] * len(texts), [r.text for r in responses if r.status_code != 200]
    batches = server.metric("sc_batch_size_count") - batches_before
    # coalescing, by the server's own count: fewer forward batches than requests
    assert 1 <= batches < len(texts) / 2, batches
    assert server.metric('sc_serve_requests_total{status="200"}') >= len(texts)

    # the same results as the stream gets: the engine on each text alone (batch-independent INT8)
    engine = load_engine(default_model_dir, cache_entries=0)
    label_set = load_label_set(server.tmp / "opinion_zh.yaml")
    for text, response in zip(texts, responses):
        body = response.json()
        expected = engine.classify([text], label_set).as_dict(0)
        got = body["results"][0]
        assert got["label"] == expected["label"]
        assert got["label_set_version"] == expected["label_set_version"] == body["label_set_version"]
        assert got["model_id"] == expected["model_id"]
        np.testing.assert_allclose(
            [got["scores"][n] for n in label_set.names], [expected["scores"][n] for n in label_set.names], atol=1e-4
        )


def test_several_texts_inline_label_set_and_repeat_cache(server):
    inline = {
        "name": "delivery",
        "labels": [
            {"name": "slow", "description": "物流慢，快递迟迟不到"},
            {"name": "fast", "description": "物流快，第二天就到了"},
        ],
    }
    texts = ["快递一个星期了还没到", "昨天下单今天就收到了，很快"]
    hits_before = server.metric("sc_repeat_cache_hits_total")
    for _ in range(2):
        response = httpx.post(
            server.url + "/v1/classify", json={"texts": texts, "inline_label_set": inline}, timeout=60
        )
        assert response.status_code == 200, response.text
    body = response.json()
    assert [r["label"] for r in body["results"]] == ["slow", "fast"]
    assert body["label_set_version"].startswith("delivery@")
    assert server.metric("sc_repeat_cache_hits_total") - hits_before == 2


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"texts": [], "label_set": "opinion-zh"}, "texts"),
        ({"texts": ["好"] * 65, "label_set": "opinion-zh"}, "texts"),
        ({"texts": ["好", ""], "label_set": "opinion-zh"}, "texts.1"),
        ({"texts": ["长" * 4001], "label_set": "opinion-zh"}, "texts.0"),
        ({"texts": [3], "label_set": "opinion-zh"}, "texts.0"),
        ({"label_set": "opinion-zh"}, "texts"),
        ({"texts": ["好"], "label_set": "no-such-set"}, "label_set"),
        ({"texts": ["好"], "inline_label_set": {"name": "x", "labels": [{"name": "a"}]}}, "inline_label_set"),
        (
            {"texts": ["好"], "inline_label_set": {"name": "x", "labels": [{"name": "a"}, {"name": ""}]}},
            "inline_label_set.labels.1.name",
        ),
        ({"texts": ["好"], "label_set": "opinion-zh", "colour": 1}, "colour"),
    ],
)
def test_bad_input_is_422_naming_the_field(server, payload, field):
    response = httpx.post(server.url + "/v1/classify", json=payload, timeout=30)
    assert response.status_code == 422, response.text
    body = response.json()
    assert any(e["field"] == field for e in body["detail"]), body
    assert field in body["error"]


def test_a_request_naming_no_label_set_gets_the_streams_set(server):
    response = httpx.post(server.url + "/v1/classify", json={"texts": ["快递三天都没到"]}, timeout=60)
    assert response.status_code == 200, response.text
    named = httpx.post(
        server.url + "/v1/classify", json={"texts": ["快递三天都没到"], "label_set": "opinion-zh"}, timeout=60
    ).json()
    assert response.json()["label_set_version"] == named["label_set_version"]
    assert response.json()["results"][0]["label"] == named["results"][0]["label"]


def test_both_a_name_and_an_inline_set_is_422(server):
    inline = {"name": "x", "labels": [{"name": "a"}, {"name": "b"}]}
    response = httpx.post(
        server.url + "/v1/classify",
        timeout=30,
        json={"texts": ["好"], "label_set": "opinion-zh", "inline_label_set": inline},
    )
    assert response.status_code == 422, response.text
    assert "at most one of label_set" in response.json()["error"]


def test_oversized_body_is_413(server):
    big = {"texts": ["长" * 3000] * 200, "label_set": "opinion-zh"}  # ~1.8 MB of JSON, over 1 MiB
    response = httpx.post(server.url + "/v1/classify", json=big, timeout=30)
    assert response.status_code == 413
    assert "max_body_bytes" in response.json()["error"]


def test_label_set_writes_need_the_token_then_swap_like_the_file_watcher(server):
    before = httpx.get(server.url + "/v1/label-sets/sentiment").json()
    edited = dict(before["label_set"])
    edited["labels"] = [
        {"name": "positive", "description": "好评：满意，推荐，物流快"},
        {"name": "negative", "description": "差评：失望，物流慢，质量差"},
    ]
    url = server.url + "/v1/label-sets/sentiment"
    assert httpx.put(url, json=edited).status_code == 401
    # the token is checked before the body is read: without it a caller learns nothing of a valid body
    assert httpx.put(url, content=b"{not json", headers={"content-type": "application/json"}).status_code == 401
    assert httpx.put(url, json={"temperature": -1}, headers={"Authorization": "Bearer wrong"}).status_code == 403
    answers = server.url + "/v1/review-queue/sentiment/answers"
    assert httpx.post(answers, content=b"[", headers={"content-type": "application/json"}).status_code == 401
    assert httpx.put(url, json=edited, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert httpx.get(url).json()["version"] == before["version"]

    bad = {**edited, "temperature": -1}
    response = httpx.put(url, json=bad, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "temperature", response.text
    renamed = {**edited, "name": "other"}
    response = httpx.put(url, json=renamed, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "name"
    assert (
        httpx.put(
            server.url + "/v1/label-sets/nope", json=edited, headers={"Authorization": f"Bearer {TOKEN}"}
        ).status_code
        == 404
    )

    reloads_before = server.metric('sc_label_reloads_total{result="success"}')
    response = httpx.put(url, json=edited, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert response.status_code == 200, response.text
    new_version = response.json()["version"]
    assert new_version != before["version"] and response.json()["changed"] is True
    assert server.metric('sc_label_reloads_total{result="success"}') == reloads_before + 1
    # the file now holds the new set (a stream watching it follows), and classify uses it
    assert load_label_set(server.tmp / "sentiment.yaml").version == new_version
    result = httpx.post(server.url + "/v1/classify", json={"texts": ["还行"], "label_set": "sentiment"}, timeout=60)
    assert result.json()["label_set_version"] == new_version

    # an edit of the file on disk is picked up by the same watcher
    on_disk = yaml.safe_load((server.tmp / "sentiment.yaml").read_text())
    on_disk["temperature"] = 0.05
    (server.tmp / "sentiment.yaml").write_text(yaml.safe_dump(on_disk, allow_unicode=True))
    expected = load_label_set(server.tmp / "sentiment.yaml").version
    for _ in range(100):
        if httpx.get(url).json()["version"] == expected:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert httpx.get(url).json()["version"] == expected


def test_docs_metrics_health(server):
    assert httpx.get(server.url + "/docs").status_code == 200
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert {"/v1/classify", "/v1/label-sets", "/v1/label-sets/{name}", "/v1/stream/events"} <= set(paths)
    assert httpx.get(server.url + "/healthz").text == "ok\n"
    assert httpx.get(server.url + "/readyz").text == "ready\n"
    assert "sc_serve_queue_texts" in httpx.get(server.url + "/metrics").text
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "/web/app.js" in page.text
    assert httpx.get(server.url + "/web/app.js").status_code == 200


def test_full_queue_is_429_with_retry_after(tmp_path, default_model_dir):
    # one text a batch and room for one waiting text: a burst of long texts overflows the queue
    settings = _settings(tmp_path, default_model_dir, max_queue=1, max_texts=1)
    settings["batch"] = {"max_size": 1, "max_wait_ms": 0}
    proc = ServeProcess(settings, tmp_path).start().wait_ready()
    try:
        long_texts = [t for t in stream_texts(seed=3) if len(t) > 150][:30]
        responses = asyncio.run(
            _concurrently(proc.url, [{"texts": [t], "label_set": "opinion-zh"} for t in long_texts])
        )
        codes = [r.status_code for r in responses]
        assert codes.count(429) > 0 and codes.count(200) > 0, codes
        assert set(codes) <= {200, 429}, codes
        refused = next(r for r in responses if r.status_code == 429)
        assert int(refused.headers["Retry-After"]) >= 1
        assert proc.metric('sc_serve_requests_total{status="429"}') == codes.count(429)
        # the writes are off on a server without a token
        edited = httpx.get(proc.url + "/v1/label-sets/sentiment").json()["label_set"]
        assert (
            httpx.put(
                proc.url + "/v1/label-sets/sentiment", json=edited, headers={"Authorization": "Bearer anything"}
            ).status_code
            == 403
        )
    finally:
        assert proc.stop() == 0, proc.log_tail()


def test_request_past_its_deadline_is_503(tmp_path, default_model_dir):
    # the batch waits 2 s for company; the request gives up after 0.3 s
    settings = _settings(tmp_path, default_model_dir, request_timeout_s=0.3, wait_when_idle=True)
    settings["batch"] = {"max_size": 64, "max_wait_ms": 2000}
    proc = ServeProcess(settings, tmp_path).start().wait_ready()
    try:
        response = httpx.post(proc.url + "/v1/classify", json={"texts": ["好"], "label_set": "opinion-zh"}, timeout=30)
        assert response.status_code == 503, response.text
        assert "deadline" in response.json()["error"]
        assert proc.metric('sc_serve_requests_total{status="503"}') == 1
        assert httpx.get(proc.url + "/healthz").status_code == 200
    finally:
        assert proc.stop() == 0, proc.log_tail()


def test_config_errors_name_the_field(tmp_path, default_model_dir):
    import subprocess
    import sys

    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"serve": {"max_queue": 0}}))
    result = subprocess.run(
        [sys.executable, "-m", "stream_classifier", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2 and "serve.max_queue" in result.stderr, result.stderr


def test_oversized_streamed_body_without_length_is_413(server):
    def chunks():
        for _ in range(40):
            yield b'{"texts": ["' + "长".encode() * 10_000  # 30 kB a chunk, no Content-Length

    response = httpx.post(
        server.url + "/v1/classify", content=chunks(), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 413
