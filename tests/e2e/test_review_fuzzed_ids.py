"""Every event id the worker accepts can be opened, claimed, skipped and labelled in Chromium:
ids with slashes, dot segments, percent signs, ?, #, spaces, Unicode and the longest id, plus
ids drawn at random from such characters."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from guardstream.audit.tables import VerdictRow
from tests.e2e.conftest import RunningApp, log_in, press
from workers.review.item_ids import MAX_ID_CHARS
from workers.review.text_safety import reveal_plain

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

LONGEST = min(MAX_ID_CHARS, VerdictRow.__table__.c.event_id.type.length)
"""The longest id both ingestion and the audit store's column take."""
ALPHABET = "/.%?#&=+ ~\\:;@!$'()*,[]{}<>\"|^`aZ09-_界名字😀é\u0301\u200b\u202e\u2066ｐаΑ"
FIXED = [
    "a/b",
    "../../etc/passwd",
    "..",
    ".",
    "./",
    "a%2Fb",
    "%2e%2e",
    "%",
    "100%25",
    "q?x=1&y=2",
    "#frag",
    " spaced id ",
    "名字/..%2e/",
    "back\\slash",
    "~tilde",
    "next",
    "x/claim",
    "pаypal\u202egpj.exe",
    "😀" * 5,
    "/" * LONGEST,
    "." * LONGEST,
    "界" * LONGEST,
    "%" * LONGEST,
]


def fuzzed_ids(count: int, seed: int = 19) -> list[str]:
    draw = random.Random(seed)
    ids: list[str] = []
    while len(ids) < count:
        candidate = "".join(draw.choice(ALPHABET) for _ in range(draw.randint(1, LONGEST)))
        if not candidate.isspace() and candidate not in ids + FIXED:
            ids.append(candidate)
    return ids


def now_ms() -> int:
    return int(time.time() * 1000)


def shown_id(page: Any) -> str:
    return str(page.evaluate("document.querySelector('.ids code').textContent"))


def open_from_queue(page: Any, base_url: str, event_id: str, status: str = "pending") -> None:
    """Clicks the open (claim) or view control of the queue row whose data-event-id is ``event_id``."""
    page.goto(f"{base_url}/queue?status={status}")
    with page.expect_navigation():
        clicked = page.evaluate(
            """id => {
                const row = Array.from(document.querySelectorAll('tr.row')).find(r => r.dataset.eventId === id);
                if (!row) return false;
                row.querySelector('[data-open]').click();
                return true;
            }""",
            event_id,
        )
        assert clicked, f"no queue row for {event_id!r}"


# The browser pass runs on the production store only: tests/unit/review/test_review_item_ids.py puts the
# same hostile ids through the app on both stores, without a browser.
@pytest.mark.parametrize("audit_url", ["postgresql"], indirect=True)
def test_fuzzed_event_ids_are_opened_claimed_skipped_and_labelled(
    start_app: Callable[..., RunningApp], browser: Any
) -> None:
    app = start_app(page_size=100)
    ids = FIXED + fuzzed_ids(5)
    for index, event_id in enumerate(ids):
        app.seed(event_id=event_id, verdict_at_ms=1_000 + index, index=index)
    app.add_user("alice")
    page = browser.new_page()
    log_in(page, app.url, "alice")

    # Review next, oldest first: each id in turn is opened and claimed; skipping moves on to the next.
    press(page, "r", r"/review/")
    for position, event_id in enumerate(ids):
        assert shown_id(page) == reveal_plain(event_id), position
        item = app.services.queue.item(event_id, now_ms())
        assert item is not None and item.lease_holder == "alice", event_id
        press(page, "x", r"msg=skipped" if position + 1 < len(ids) else r"msg=empty")

    # Each one again from its queue row: take it, label it safe.
    for event_id in ids:
        open_from_queue(page, app.url, event_id)
        assert shown_id(page) == reveal_plain(event_id)
        press(page, "s", r"msg=(labelled|empty)")
        item = app.services.queue.item(event_id, now_ms())
        assert item is not None and item.label is not None and item.label.label == "safe", event_id

    # And it opens as labelled from the labelled queue.
    for event_id in ids:
        open_from_queue(page, app.url, event_id, status="labelled")
        assert page.inner_text("#current-label") == "safe" and shown_id(page) == reveal_plain(event_id)

    trail = {(a["action"], a["event_id"]) for a in app.services.trail.actions(10_000, actor="alice")}
    missing = [i for i in ids if not {("open", i), ("skip", i), ("label", i)} <= trail]
    assert missing == []
    page.close()
