"""Several label sets over HTTP: a server whose labels.file lists several files serves each of them,
and POST /v1/classify with `label_sets` answers every set from one request, as the stream's records do."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from serve_harness import ServeProcess

from stream_classifier.labels import load_label_set

pytestmark = pytest.mark.model
LABELS = Path(__file__).resolve().parents[2] / "configs" / "labels"
FILES = ("opinion_zh.yaml", "topic_zh.yaml", "urgency_zh.yaml")
TEXTS = ["都五天了还不发货，再不发我就投诉", "这个有大码的吗"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, default_model_dir):
    tmp = tmp_path_factory.mktemp("serve-sets")
    for name in FILES:
        shutil.copy(LABELS / name, tmp / name)
    settings = {
        "labels": {"file": [str(tmp / name) for name in FILES]},
        "model": {"dir": str(default_model_dir)},
        "serve": {"live": {"enabled": False}, "review": {"enabled": False}},
        "logging": {"format": "text", "level": "INFO"},
    }
    proc = ServeProcess(settings, tmp).start().wait_ready()
    yield proc
    assert proc.stop() == 0, proc.log_tail()


def test_every_stream_set_is_served_and_one_request_gets_each_sets_answer(server):
    sets = [load_label_set(LABELS / name) for name in FILES]
    served = httpx.get(server.url + "/v1/label-sets", timeout=30).json()
    assert {s["name"] for s in served["label_sets"]} == {s.name for s in sets}
    assert served["stream_label_set"] == sets[0].name

    names = [s.name for s in sets]
    together = httpx.post(server.url + "/v1/classify", json={"texts": TEXTS, "label_sets": names}, timeout=60)
    assert together.status_code == 200, together.text
    for i, result in enumerate(together.json()["results"]):
        assert list(result["label_sets"]) == names
        for label_set in sets:
            alone = httpx.post(
                server.url + "/v1/classify", json={"texts": [TEXTS[i]], "label_set": label_set.name}, timeout=60
            ).json()["results"][0]
            mine = result["label_sets"][label_set.name]
            assert mine["label"] == alone["label"] and mine["label_set_version"] == label_set.version
            assert all(abs(mine["scores"][k] - v) < 1e-5 for k, v in alone["scores"].items())
        assert result["label"] == result["label_sets"][names[0]]["label"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"texts": ["x"], "label_sets": ["opinion-zh", "nope"]}, "label_sets"),
        ({"texts": ["x"], "label_sets": ["opinion-zh", "opinion-zh"]}, "label_sets"),
        ({"texts": ["x"], "label_sets": []}, "label_sets"),
        ({"texts": ["x"], "label_sets": ["opinion-zh"], "label_set": "topic-zh"}, ""),
    ],
)
def test_bad_label_set_lists_are_422_naming_the_field(server, body, field):
    response = httpx.post(server.url + "/v1/classify", json=body, timeout=30)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]
