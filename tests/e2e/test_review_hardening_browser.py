"""In Chromium: a 1M-character item opens capped with a way to read all of it, and a reviewer whose
label lost the race is told so instead of "Label saved"."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import RunningApp, log_in, press

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_a_megabyte_item_shows_its_beginning_and_all_of_it_on_request(
    start_app: Callable[..., RunningApp], browser: Any
) -> None:
    app = start_app(display_max_chars=5_000)
    unit = "很长的回答 with pаypal words\u202e "
    text = (unit * (1_000_000 // len(unit) + 1))[:999_990] + "THE END."
    app.seed(event_id="long-1", text=text, question="短问题")
    app.add_user("alice")
    page = browser.new_page()
    log_in(page, app.url, "alice")
    press(page, "r", r"/review/long-1")
    response = page.inner_text("#response")
    assert 4_900 <= len(response.replace("⟨U+202E⟩", "\u202e")) <= 5_000 and "THE END." not in response
    assert "5,000 / 999,998" in page.inner_text("#capped-text") and "RIGHT-TO-LEFT OVERRIDE" in page.inner_text(
        "#text-warnings"
    )
    with page.expect_navigation(url=re.compile(r"/review/long-1/full/text$")):
        page.click("#show-all-text")
    assert page.inner_text("#full-size").startswith("999,998")
    assert page.evaluate("document.querySelectorAll('#full-text .chunk').length") == 500
    assert page.inner_text("#full-text .chunk:last-child").endswith("THE END.")
    assert "⟨U+202E⟩" in page.inner_text("#full-text .chunk:first-child")
    page.close()


def test_a_label_that_lost_the_race_is_reported_as_not_saved(
    start_app: Callable[..., RunningApp], browser: Any
) -> None:
    app = start_app(lease_s=5)
    event = app.seed(verdict_at_ms=1_000)
    app.add_user("alice")
    app.add_user("bob")
    pages = {}
    for name in ("bob", "alice"):
        pages[name] = browser.new_context().new_page()
        log_in(pages[name], app.url, name)
    press(pages["bob"], "r", rf"/review/{event}")  # bob holds it, then looks away past his lease
    pages["bob"].wait_for_timeout(5_500)
    press(pages["alice"], "r", rf"/review/{event}")
    press(pages["alice"], "u", r"msg=")
    press(pages["bob"], "s", r"msg=")
    message = pages["bob"].inner_text("#message")
    assert "labelled already" in message and "Label saved" not in message
    item = app.services.queue.item(event, 10**13)
    assert (
        item is not None and item.label is not None and (item.label.reviewer, item.label.label) == ("alice", "unsafe")
    )
    for page in pages.values():
        page.context.close()
