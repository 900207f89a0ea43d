"""Any event id the worker accepts can be opened, claimed, skipped and labelled (SQLite and PostgreSQL)."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from guardstream.audit.tables import VerdictRow
from tests.unit.review.app_client import log_in, make_client
from tests.unit.review.conftest import Seed
from workers.review.item_ids import MAX_ID_CHARS, from_segment, to_segment
from workers.review.text_safety import reveal

LONGEST = min(MAX_ID_CHARS, VerdictRow.__table__.c.event_id.type.length)
"""The longest id both ingestion and the audit store's column take."""

HOSTILE_IDS = [
    "a/b",
    "../../admin",
    "..",
    ".",
    "./x",
    "a%2Fb",
    "%2e%2e",
    "100%",
    "what?x=1&y=2#frag",
    " spaced id ",
    "名字/..%2e/",
    "back\\slash",
    "~tilde",
    "next",
    "x/claim",
    "tab\tand\u202eoverride",
    "😀" * 10,
    "/" * LONGEST,
    "界" * LONGEST,
    "e" * LONGEST,
]
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


@given(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=MAX_ID_CHARS)
)
def test_every_id_maps_to_one_plain_segment_and_back(event_id: str) -> None:
    segment = to_segment(event_id)
    assert _SEGMENT.fullmatch(segment) and segment.strip(".") and not segment.startswith(".")
    assert from_segment(segment) == event_id


@pytest.mark.parametrize(
    "segment", ["", ".", "..", "a b", "~", "~A", "~%41", "~" + "QUFB" * 400, "x" * (MAX_ID_CHARS + 1), "~AA"]
)
def test_segments_no_item_can_have_are_refused(segment: str) -> None:
    assert from_segment(segment) is None


def form_action(page: str, form_id: str) -> str:
    found = re.search(rf'<form method="post" action="([^"]+)" id="{form_id}"', page)
    assert found, form_id
    return html.unescape(found.group(1))


def claim_from_queue(client: TestClient, csrf: str, event_id: str) -> str:
    """Opens the item with its row's button on the queue page; returns the item page."""
    queue = client.get("/queue", params={"status": "all"}).text
    rows = [
        re.match(r' data-event-id="([^"]*)">.*?action="([^"]+/claim)"', row, re.S)
        for row in queue.split('<tr class="row"')[1:]
    ]
    action = {html.unescape(row[1]): html.unescape(row[2]) for row in rows if row}[event_id]
    opened = client.post(action, data={"csrf_token": csrf})
    assert opened.status_code == 200, (event_id, opened.url)
    return opened.text


def test_hostile_event_ids_are_opened_claimed_skipped_and_labelled(engine: Engine, seed: Seed) -> None:
    client, svc = make_client(engine, page_size=100)
    for index, event_id in enumerate(HOSTILE_IDS):
        seed(event_id=event_id, verdict_at_ms=10_000 + index)
    _, csrf = log_in(client)
    for event_id in HOSTILE_IDS:
        page = claim_from_queue(client, csrf, event_id)
        assert f"event <code>{reveal(event_id)}</code>" in page and "\u202e" not in page  # ids may hold bidi controls
        item = svc.queue.item(event_id, svc.clock_ms())
        assert item is not None and item.lease_holder == "alice"
        assert (
            client.post(form_action(page, "skip-form"), data={"csrf_token": csrf}, follow_redirects=False).status_code
            == 303
        )
        page = claim_from_queue(client, csrf, event_id)
        revision = re.search(r'name="revision" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
        labelled = client.post(
            form_action(page, "label-form"), data={"csrf_token": csrf, "label": "safe", "revision": revision}
        )
        assert "msg=labelled" in str(labelled.url)
        item = svc.queue.item(event_id, svc.clock_ms())
        assert item is not None and item.label is not None and item.label.reviewer == "alice", event_id
        assert "已标注 Labelled" in client.get(f"/review/{to_segment(event_id)}").text
    trail = [(a["action"], a["event_id"]) for a in svc.trail.actions(1000, actor="alice")]
    for event_id in HOSTILE_IDS:
        assert {("open", event_id), ("skip", event_id), ("label", event_id)} <= set(trail), event_id
