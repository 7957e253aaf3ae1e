"""The review queue end to end: two `stream-classifier run` consumers of one group write their least
sure records to the compacted review topic on a real broker; `stream-classifier serve` lists them on
the page; a click in the real browser corrects one (the text becomes an example, a new version of
the label file is written) and the running stream labels with that version; the queue survives a
restart of the server without the answered text.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest
from kafka_helpers import free_ports
from page_harness import browser, post_records, wait_on_page  # noqa: F401 - browser: the fixture
from serve_harness import ServeProcess
from stream_harness import ClassifierProcess, produce, read_topic, settings_for, wait_until

from stream_classifier.labels import load_label_set
from stream_classifier_workbench.datasets.reviews import stream_texts

pytestmark = [pytest.mark.kafka, pytest.mark.model]
LABELS = Path(__file__).resolve().parents[2] / "configs" / "labels"
TOKEN = "review-token"


def _queue(server: ServeProcess) -> dict:
    return httpx.get(server.url + "/v1/review-queue/opinion-zh", params={"limit": 100}, timeout=30).json()


def test_an_operator_corrects_the_least_sure_record_and_the_stream_follows(
    kafka_bootstrap,
    topics,
    tmp_path,
    default_model_dir,
    browser,  # noqa: F811
):
    from selenium.webdriver.common.by import By

    labels = tmp_path / "opinion_zh.yaml"
    shutil.copy(LABELS / "opinion_zh.yaml", labels)
    in_topic, out_topic = topics.create("in", partitions=4), topics.create("out", partitions=3)
    dlq_topic = topics.create("dlq")
    settings = settings_for(
        kafka_bootstrap,
        in_topic,
        out_topic,
        dlq_topic,
        labels,
        model={"dir": str(default_model_dir)},
        review={"size": 8},
        output={"include_text": True},
    )
    streams = [ClassifierProcess(json.loads(json.dumps(settings)), tmp_path) for _ in range(2)]
    for stream in streams[1:]:
        stream.settings["metrics"]["port"] = free_ports(1)[0]
    for stream in streams:
        stream.start()
    serve_settings = json.loads(json.dumps(settings))
    serve_settings["serve"] = {"token": TOKEN, "live": {"history": 200}}
    server = ServeProcess(serve_settings, tmp_path).start()
    try:
        for stream in streams:
            stream.wait_ready()
        server.wait_ready()
        texts = [t[:120] for t in stream_texts(seed=7) if t.strip()][:160]
        produce(kafka_bootstrap, in_topic, post_records(texts, 0))
        read_topic(kafka_bootstrap, out_topic, expected=len(texts), timeout=180)
        wait_until(lambda: len(_queue(server)["items"]) >= 8, 60, "review candidates on the server")
        queue = _queue(server)
        assert len({item["key"] for item in queue["items"]}) == len(queue["items"])
        margins = [item["margin"] for item in queue["items"]]
        assert margins == sorted(margins) and margins[0] < 0.2
        assert len({item["source"]["partition"] for item in queue["items"]}) >= 2, "candidates from one partition"
        written = streams[0].metric_sum("sc_review_candidates_total", result="written")
        assert 8 <= written < len(texts), f"{written} candidates written for {len(texts)} records"

        browser.get(server.url + "/")
        rows = wait_on_page(
            browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#review-items tr.review-item"), 60, "the review queue"
        )
        assert len(rows) == len(queue["items"])
        first = queue["items"][0]
        assert rows[0].get_attribute("data-key") == first["key"]
        assert rows[0].find_element(By.CSS_SELECTOR, "td.text").text == first["text"]
        given = first["label"]
        ranked = sorted(first["scores"], key=first["scores"].get, reverse=True)
        correction = next(label for label in ranked if label != given)

        # without the token the answer is refused and nothing is written
        version_before = load_label_set(labels).version
        rows[0].find_element(By.CSS_SELECTOR, f'button[data-label="{correction}"]').click()
        wait_on_page(browser, lambda d: "401" in d.find_element(By.ID, "review-error").text, 30, "the refusal")
        assert load_label_set(labels).version == version_before

        browser.find_element(By.ID, "review-token").send_keys(TOKEN)
        rows[0].find_element(By.CSS_SELECTOR, f'button[data-label="{correction}"]').click()
        wait_on_page(browser, lambda d: "corrected" in d.find_element(By.ID, "review-message").text, 60, "the answer")
        corrected = load_label_set(labels)
        assert corrected.version != version_before
        assert first["text"] in next(lbl for lbl in corrected.labels if lbl.name == correction).examples
        wait_on_page(
            browser,
            lambda d: not d.find_elements(By.CSS_SELECTOR, f'#review-items tr[data-key="{first["key"]}"]'),
            30,
            "the answered row gone",
        )

        # the running stream follows the file: the same text again is labeled by the new version
        for stream in streams:
            wait_until(
                lambda s=stream: s.metric_sum("sc_label_set_info", version=corrected.version) == 1,
                30,
                "the stream on the new version",
            )
        produce(kafka_bootstrap, in_topic, post_records([first["text"]], 10_000))
        again = [
            json.loads(m.value())
            for m in read_topic(kafka_bootstrap, out_topic, expected=len(texts) + 1, timeout=60)
            if json.loads(m.value())["id"] == 10_000
        ]
        assert [r["label_set_version"] for r in again] == [corrected.version]
        assert again[0]["scores"][correction] > first["scores"][correction]
        assert again[0]["label"] == correction

        # "none of these" drops a text without an example
        second = _queue(server)["items"][0]
        row = wait_on_page(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, f'#review-items tr[data-key="{second["key"]}"]'),
            30,
            "the next row",
        )[0]
        row.find_element(By.CSS_SELECTOR, "button.dismiss").click()
        wait_on_page(browser, lambda d: "Dropped" in d.find_element(By.ID, "review-message").text, 30, "the dismissal")
        assert load_label_set(labels).version == corrected.version
        assert server.metric("sc_review_answers_total") == 2

        # a restarted server reads the queue back from the topic, without the answered texts
        remaining = {item["key"] for item in _queue(server)["items"]}
        assert server.stop() == 0, server.log_tail()
        server = ServeProcess(serve_settings, tmp_path).start().wait_ready()
        wait_until(lambda: remaining <= {item["key"] for item in _queue(server)["items"]}, 60, "the queue read back")
        keys = {item["key"] for item in _queue(server)["items"]}
        assert first["key"] not in keys and second["key"] not in keys
    finally:
        time.sleep(0.2)
        assert server.stop() == 0, server.log_tail()
        for stream in streams:
            stream.stop()
