"""A moderator's day in headless Chromium, keyboard only: log in, filter, label, undo, skip;
then the labels are on moderation.feedback (read_committed) and in the audit store, once each."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from guardstream.audit.feedback_outbox import feedback_id
from guardstream.records import CategoryScore
from tests.e2e.conftest import RunningApp, log_in, press

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def current_event(page: Any) -> str:
    match = re.search(r"/review/([^?]+)", page.url)
    assert match, page.url
    return match.group(1)


def test_keyboard_only_review_with_filter_undo_and_skip_reaches_the_topic_once(
    start_app: Callable[..., RunningApp], browser: Any
) -> None:
    app = start_app()
    first = app.seed(
        p_unsafe=0.7,
        verdict_at_ms=1_000,
        categories=(CategoryScore(category="hate_abuse", score=0.8),),
        question="怎么骂人最狠？",
        text="你可以这样骂：……",
    )
    second = app.seed(p_unsafe=0.95, verdict_at_ms=2_000, text="这是第二条回答")
    third = app.seed(p_unsafe=0.8, verdict_at_ms=3_000, text="这是第三条回答")
    unsure = app.seed(label="review", p_unsafe=0.4, verdict_at_ms=4_000, model_version="2", text="模型不确定的回答")
    app.add_user("alice")
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    log_in(page, app.url, "alice")
    assert page.inner_text("#queue-total") == "4"

    # Filter by model label (review) with the keyboard: "/" focuses it, arrows choose, Enter applies.
    press(page, "/")
    press(page, "ArrowDown")
    press(page, "ArrowDown")
    press(page, "Enter", r"label=review")
    assert page.inner_text("#queue-total") == "1"
    press(page, "r", r"/review/")
    assert current_event(page) == unsure and "label=review" in page.url
    press(page, "s", r"msg=empty")  # nothing else matches the filter
    press(page, "/")
    press(page, "ArrowUp")
    press(page, "ArrowUp")
    press(page, "Enter", r"/queue")
    assert page.inner_text("#queue-total") == "3"

    # Oldest first: label the first unsafe with category 5 (辱骂仇恨) and a note, the second safe.
    press(page, "r", r"/review/")
    assert current_event(page) == first
    assert "怎么骂人最狠" in page.inner_text("#question")
    press(page, "5")
    press(page, "n")
    page.keyboard.type("明显的辱骂")
    press(page, "Escape")
    press(page, "u", r"msg=labelled")
    assert current_event(page) == second
    press(page, "s", r"msg=labelled")
    assert current_event(page) == third

    # Undo the last label (second, safe): it had not been sent; relabel it unsafe, category 1.
    press(page, "z", r"msg=undone")
    assert current_event(page) == second
    assert "never will be" in page.inner_text("#message")
    press(page, "1")
    press(page, "u", r"msg=labelled")
    assert current_event(page) == third
    press(page, "x", r"msg=empty")  # skip the third: the queue has nothing else for me

    expected = {
        feedback_id(unsure, 1): ("safe", None, None),
        feedback_id(first, 1): ("unsafe", "hate_abuse", "明显的辱骂"),
        feedback_id(second, 2): ("unsafe", "illegal_activities", None),
    }
    on_topic = app.feedback_on_topic(expected=3)
    assert sorted(f.feedback_id for f in on_topic) == sorted(expected)  # once each, the undone one never
    for record in on_topic:
        assert (record.label.value, record.category, record.note) == expected[record.feedback_id]
        assert record.reviewer == "alice"
    assert {f.model_label for f in on_topic} == {"unsafe", "review"}

    stored = {item.feedback.feedback_id: item for item in app.outbox.labelled_feedback(0)}
    assert set(stored) == set(expected) and all(item.published for item in stored.values())
    trail = [a["action"] for a in reversed(app.services.trail.actions(actor="alice"))]
    assert trail.count("label") == 4 and "undo" in trail and "skip" in trail and trail[0] == "login"
    page.close()


def test_two_reviewers_never_get_the_same_item(start_app: Callable[..., RunningApp], browser: Any) -> None:
    app = start_app()
    seeded = {app.seed(verdict_at_ms=1_000 + i) for i in range(2)}
    app.add_user("alice")
    app.add_user("bob")
    pages = []
    for name in ("alice", "bob"):
        context = browser.new_context()
        page = context.new_page()
        log_in(page, app.url, name)
        pages.append(page)
    opened = []
    for page in pages:
        press(page, "r", r"/review/")
        opened.append(current_event(page))
    assert set(opened) == seeded
    # Bob, opening Alice's item, sees who holds it and gets no label form.
    pages[1].goto(f"{app.url}/review/{opened[0]}")
    assert "alice" in pages[1].inner_text("#leased-by")
    assert pages[1].query_selector("#label-form") is None
    for page in pages:
        page.context.close()
