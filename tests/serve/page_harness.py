"""What the page tests share: a real headless browser (Debian's chromium, driven by selenium; a test
module imports the `browser` fixture), input records for the stream, and waiting on the page (a
screenshot of the page when the wait fails).

Not a conftest.py: the reliability tests import their own conftest by module name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FAILED_SCREENSHOT = Path(__file__).resolve().parents[2] / "results" / "web" / "page-failed.png"


def post_records(texts: list[str], start: int) -> list[tuple[bytes, bytes]]:
    return [
        (f"user-{start + i}".encode(), json.dumps({"id": start + i, "text": t}, ensure_ascii=False).encode())
        for i, t in enumerate(texts)
    ]


def wait_on_page(driver, predicate, timeout: float, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.3).until(lambda d: predicate(d))
    except Exception as exc:
        FAILED_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(FAILED_SCREENSHOT))
        raise AssertionError(f"page: {what} not seen within {timeout}s ({type(exc).__name__})") from None


@pytest.fixture
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("the page test needs Debian's chromium: apt-get install chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1700",
        "--lang=zh-CN",
    ):
        options.add_argument(arg)
    # explicit driver path: selenium-manager downloads nothing
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
