"""The page in a real headless browser (Debian's chromium, driven by selenium), beside a real stream.

`stream-classifier run` labels records from the real broker; `stream-classifier serve` reads its
output and dead-letter topics for the live view and edits the label file the stream watches.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest
from page_harness import browser, post_records, wait_on_page  # noqa: F401 - browser: the fixture
from serve_harness import ServeProcess
from stream_harness import ClassifierProcess, produce, settings_for

from stream_classifier_workbench.datasets.reviews import stream_texts

pytestmark = [pytest.mark.kafka, pytest.mark.model]
REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "configs" / "labels"
SCREENSHOT = REPO / "results" / "web" / "page.png"
TOKEN = "page-token"


def test_page_classifies_edits_a_label_set_and_shows_the_live_stream(
    kafka_bootstrap,
    topics,
    tmp_path,
    default_model_dir,
    browser,  # noqa: F811 - the fixture imported from page_harness
):
    from selenium.webdriver.common.by import By

    labels = tmp_path / "opinion_zh.yaml"
    shutil.copy(LABELS / "opinion_zh.yaml", labels)
    shutil.copy(LABELS / "sentiment.yaml", tmp_path / "sentiment.yaml")
    in_topic, out_topic = topics.create("in", partitions=3), topics.create("out", partitions=3)
    dlq_topic = topics.create("dlq")
    settings = settings_for(
        kafka_bootstrap, in_topic, out_topic, dlq_topic, labels, model={"dir": str(default_model_dir)}
    )
    stream = ClassifierProcess(settings, tmp_path).start()
    serve_settings = json.loads(json.dumps(settings))
    serve_settings["serve"] = {
        "token": TOKEN,
        "label_files": [str(tmp_path / "sentiment.yaml")],
        "live": {"history": 200, "bucket_s": 2},
    }
    server = ServeProcess(serve_settings, tmp_path).start()
    try:
        stream.wait_ready()
        server.wait_ready()
        texts = [t[:80] for t in stream_texts(seed=21) if t.strip()][:60]
        produce(
            kafka_bootstrap,
            in_topic,
            post_records(texts[:30], 0) + [(b"k", b'{"text": "unterminated'), (b"k", b'{"id": 5}')],
        )

        browser.get(server.url + "/")
        # live records and dead letters from the real broker
        wait_on_page(
            browser,
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#live-records tr.live-record")) >= 10,
            90,
            "10 live records",
        )
        wait_on_page(
            browser,
            lambda d: (
                d.find_elements(By.CSS_SELECTOR, '#dead-letters tr[data-reason="invalid_json"]')
                and d.find_elements(By.CSS_SELECTOR, '#dead-letters tr[data-reason="missing_text"]')
            ),
            60,
            "dead letters by reason",
        )
        assert browser.find_element(By.ID, "live-status").text == "live"
        assert browser.find_elements(By.CSS_SELECTOR, "#share-chart rect"), "no bar in the label-share chart"

        # try a text: the page shows the label the API gives
        text = "快递三天都没到，客服也不回复"
        expected = httpx.post(
            server.url + "/v1/classify", json={"texts": [text], "label_set": "opinion-zh"}, timeout=60
        ).json()["results"][0]["label"]
        browser.find_element(By.ID, "try-texts").send_keys(text)
        browser.find_element(By.ID, "try-submit").click()
        label = wait_on_page(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, "#try-results .result-label"),
            60,
            "a label for the typed text",
        )[0].text
        assert label == expected
        assert len(browser.find_elements(By.CSS_SELECTOR, "#try-results .bar-row")) == 5  # a bar per label

        # edit the stream's label set: a new version, swapped into the server and the stream
        version_before = browser.find_element(By.ID, "labelset-version").text
        browser.execute_script("""
            const area = document.getElementById('edit-json');
            const set = JSON.parse(area.value);
            const praise = set.labels.find((l) => l.name === 'praise');
            praise.description = [].concat(praise.description, '物流很快，下次还来');
            area.value = JSON.stringify(set, null, 2);""")
        browser.find_element(By.ID, "edit-token").send_keys(TOKEN)
        browser.find_element(By.ID, "edit-save").click()
        wait_on_page(
            browser,
            lambda d: d.find_element(By.ID, "labelset-version").text not in ("", version_before),
            60,
            "the new label-set version",
        )
        new_version = browser.find_element(By.ID, "labelset-version").text
        assert new_version.startswith("opinion-zh@")
        assert "Swapped in" in browser.find_element(By.ID, "edit-message").text

        # records produced now arrive live, labeled by the stream under the new version
        time.sleep(1.0)  # the stream's watcher polls the file every 0.2 s
        marker = "实时"
        produce(kafka_bootstrap, in_topic, post_records([f"{marker}{i} {t}" for i, t in enumerate(texts[30:])], 100))
        count_fresh = (
            "return [...document.querySelectorAll('#live-records td.text')]"
            f".filter((td) => td.textContent.includes('{marker}')).length"
        )
        wait_on_page(browser, lambda d: d.execute_script(count_fresh) >= 10, 90, "the records produced after the edit")
        fresh = [r for r in httpx.get(server.url + "/v1/stream/snapshot").json()["records"] if marker in r["text"]]
        assert fresh and {r["label_set_version"] for r in fresh} == {new_version}
        assert int(browser.find_element(By.ID, "kpi-outputs").text) >= 60
        assert int(browser.find_element(By.ID, "kpi-dead").text) == 2

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(SCREENSHOT))
    finally:
        assert server.stop() == 0, server.log_tail()
        stream.stop()
