"""What the page tests share: input records for the stream, and waiting on the page (a screenshot of the
page when the wait fails)."""

from __future__ import annotations

import json
from pathlib import Path

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
