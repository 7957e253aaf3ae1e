"""Texts are shown on the page as text and never run.

Posts carrying HTML and script payloads go through the real broker and `stream-classifier run`
(output.include_text on) to `stream-classifier serve`, whose page shows them live; the same payloads
are typed into the page's "Try texts" box and classified. In a real headless browser (Debian's
chromium, driven by selenium) each payload must read back verbatim as a cell's text, and nothing
may have run: no `window.__pwned`, no alert, no element the payloads spell out in the DOM.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from page_harness import browser, wait_on_page  # noqa: F401 - browser: the fixture
from serve_harness import ServeProcess
from stream_harness import ClassifierProcess, produce, settings_for

pytestmark = [pytest.mark.kafka, pytest.mark.model]
REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "configs" / "labels"

PAYLOADS = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "<img src=x onerror=alert(1)>",
    '<svg onload="window.__pwned=1"><circle r="9"/></svg>',
    "<svg/onload=window.__pwned=1>",
    '<a href="javascript:window.__pwned=1">click me</a>',
    "javascript:window.__pwned=1",
    '"><b>bold</b>',
    '\'><iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>',
    "{{7*7}}",
    "${window.__pwned=1}",
    "`${7*7}` #{7*7} <%= 7*7 %>",
    '</td></tr><tr class="live-record"><td class="text">forged row</td></tr>',
    "&lt;b&gt;entities stay as typed&amp;amp;",
    '<details open ontoggle="window.__pwned=1">x</details>',
    "<style>body{display:none}</style>",
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned=1">',
    '<input autofocus onfocus="window.__pwned=1">',
    '差评 <script>alert("好")</script> 快递太慢',
]
# everything the payloads spell out; the page itself has none of these
INJECTED = "img, iframe, b, details, math, style, svg:not(#share-chart), circle, table table"
CHECK_DOM = """
const onHandlers = [...document.querySelectorAll('*')].filter(
    (e) => [...e.attributes].some((a) => a.name.toLowerCase().startsWith('on'))).map((e) => e.outerHTML);
return {
    pwned: typeof window.__pwned,
    injected: [...document.querySelectorAll(arguments[0])].map((e) => e.outerHTML),
    handlers: onHandlers,
    scripts: [...document.scripts].map((s) => s.getAttribute('src')),
    links: [...document.querySelectorAll('a')].map((a) => a.getAttribute('href')),
    inputs: [...document.querySelectorAll('input')].map((i) => i.id),
    forgedRows: document.querySelectorAll('#live-records tbody tr:not(.live-record)').length,
    cellsWithElements: [...document.querySelectorAll('td.text, #try-results .result-text')]
        .filter((td) => td.childElementCount > 0).map((td) => td.outerHTML),
    bodyShown: getComputedStyle(document.body).display !== 'none',
};
"""


def _produce_forged_dead_letter(bootstrap: str, topic: str) -> None:
    """Not JSON, so a dead letter; its input headers forge sc.reason and sc.error with payloads."""
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(
        topic,
        key=b"forged",
        value=b'{"text": "<img src=x onerror=window.__pwned=1>',
        headers=[("sc.reason", PAYLOADS[1].encode()), ("sc.error", PAYLOADS[0].encode())],
    )
    assert producer.flush(30) == 0


def _assert_nothing_ran(driver) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        alert = driver.switch_to.alert
        raise AssertionError(f"an alert is open: {alert.text!r}")
    except NoAlertPresentException:
        pass
    dom = driver.execute_script(CHECK_DOM, INJECTED)
    assert dom["pwned"] == "undefined", "a payload ran"
    assert dom["injected"] == [], dom["injected"]
    assert dom["handlers"] == [], dom["handlers"]
    assert dom["scripts"] == ["/web/app.js"], dom["scripts"]
    assert "javascript" not in " ".join(h or "" for h in dom["links"]), dom["links"]
    assert "" not in dom["inputs"], f"an input without an id, not the page's: {dom['inputs']}"
    assert dom["forgedRows"] == 0 and dom["cellsWithElements"] == [], dom
    assert dom["bodyShown"]


def test_payloads_show_verbatim_live_and_in_try_texts_and_never_run(
    kafka_bootstrap,
    topics,
    tmp_path,
    default_model_dir,
    browser,  # noqa: F811 - the fixture imported from page_harness
):
    from selenium.webdriver.common.by import By

    labels = tmp_path / "sentiment.yaml"
    shutil.copy(LABELS / "sentiment.yaml", labels)
    in_topic, out_topic, dlq_topic = topics.create("in"), topics.create("out"), topics.create("dlq")
    settings = settings_for(
        kafka_bootstrap,
        in_topic,
        out_topic,
        dlq_topic,
        labels,
        model={"dir": str(default_model_dir)},
        output={"include_text": True},
    )
    stream = ClassifierProcess(settings, tmp_path).start()
    serve_settings = json.loads(json.dumps(settings))
    serve_settings["serve"] = {"live": {"history": 200, "bucket_s": 2, "latest": 30}}
    server = ServeProcess(serve_settings, tmp_path).start()
    try:
        stream.wait_ready()
        server.wait_ready()
        records = [
            (f"post-{i}".encode(), json.dumps({"id": i, "text": text}, ensure_ascii=False).encode())
            for i, text in enumerate(PAYLOADS)
        ]
        produce(kafka_bootstrap, in_topic, records)
        _produce_forged_dead_letter(kafka_bootstrap, in_topic)
        browser.get(server.url + "/")

        # live: every payload is a row whose text cell reads it back verbatim (and its tooltip)
        def live_cells(driver):
            got = driver.execute_script(
                "return [...document.querySelectorAll('#live-records td.text')].map((td) => [td.textContent, td.title])"
            )
            return got if {text for text, _ in got} >= set(PAYLOADS) else None

        shown = wait_on_page(browser, live_cells, 90, "every payload in the live records")
        assert sorted(shown) == sorted([p, p] for p in PAYLOADS), shown
        assert len(browser.find_elements(By.CSS_SELECTOR, "#live-records tr.live-record")) == len(PAYLOADS)

        # a dead letter whose input forged an sc.reason header: the page shows the classifier's reason
        reasons = wait_on_page(
            browser,
            lambda d: (
                [tr.get_attribute("data-reason") for tr in d.find_elements(By.CSS_SELECTOR, "#dead-letters tr")]
                if d.find_elements(By.CSS_SELECTOR, "#dead-letters tr[data-reason]")
                else None
            ),
            60,
            "the dead letter",
        )
        assert reasons == ["invalid_json"]
        assert browser.find_element(By.CSS_SELECTOR, "#dead-letters td").text == "invalid_json"

        # try texts: typed, classified, each shown verbatim above its label
        browser.find_element(By.ID, "try-texts").send_keys("\n".join(PAYLOADS))
        assert browser.find_element(By.ID, "try-texts").get_property("value") == "\n".join(PAYLOADS)
        browser.find_element(By.ID, "try-submit").click()
        wait_on_page(
            browser,
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#try-results .result-label")) == len(PAYLOADS),
            60,
            "a label for every typed payload",
        )
        typed = browser.execute_script(
            "return [...document.querySelectorAll('#try-results .result-text')].map((e) => e.textContent)"
        )
        assert typed == PAYLOADS
        assert browser.find_element(By.ID, "try-error").text == ""

        # the review queue, where the server has one, shows the least sure of them: verbatim too
        in_review = browser.execute_script(
            "return [...document.querySelectorAll('#review-items td.text')].map((td) => td.textContent)"
        )
        assert set(in_review) <= set(PAYLOADS), in_review

        time.sleep(2.0)  # an image's onerror, a focus or a toggle would have fired by now
        _assert_nothing_ran(browser)
        assert browser.execute_script("return document.title") == "stream-classifier · opinion desk"
    finally:
        assert server.stop() == 0, server.log_tail()
        stream.stop()
