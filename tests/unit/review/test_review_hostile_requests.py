"""Crafted requests get a 4xx with the security headers, never a 500 (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from tests.unit.review.app_client import PASSWORD, log_in, make_client
from tests.unit.review.conftest import Seed
from workers.review.item_ids import MAX_ID_CHARS, to_segment
from workers.review.security import SECURITY_HEADERS


def assert_secured(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in SECURITY_HEADERS:
        assert headers.get(name.decode()) == value.decode(), name


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements the engine runs inside the block."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def login_token(client: TestClient) -> str:
    page = client.get("/login")
    return re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_control_characters_in_any_field_are_refused_before_any_query(engine: Engine) -> None:
    client, _ = make_client(engine)
    admin, _ = make_client(engine)
    _, csrf = log_in(client)
    _, admin_csrf = log_in(admin, "root")
    token = login_token(client)
    form = {"csrf_token": csrf}
    requests = [
        (client, "POST", "/login", {"username": "a\x00", "password": PASSWORD, "login_token": token}),
        (client, "POST", "/login", {"username": "alice", "password": "pass\x00word", "login_token": token}),
        (client, "GET", "/login?next=/queue%00", None),
        (client, "GET", "/queue?version=%00", None),
        (client, "GET", "/queue?since=2024-01-01T00:00%1b", None),
        (client, "GET", "/queue?%00=1", None),
        (client, "GET", "/review/%00", None),
        (client, "GET", "/review/event-1%0a", None),
        (client, "GET", "/static/%00", None),
        (client, "POST", "/review/%00/claim", form),
        (client, "POST", "/review/next", {**form, "filters": "version=\x00"}),
        (client, "POST", "/review/next", {**form, "status\x00": "all"}),
        (client, "POST", "/review/event-1/label", {**form, "label": "safe", "revision": "1", "note": "a\x00b"}),
        (client, "POST", "/review/event-1/label", {**form, "label": "safe", "revision": "1", "note": "esc \x1b[31m"}),
        (client, "POST", "/undo", {**form, "filters": "label=\x7f"}),
        (admin, "GET", "/admin/trail?actor=%00", None),
        (
            admin,
            "POST",
            "/admin/users",
            {"csrf_token": admin_csrf, "username": "bob\x00", "password": PASSWORD * 2, "role": "reviewer"},
        ),
    ]
    for who, method, url, data in requests:
        with statements(engine) as ran:
            response = who.request(method, url, data=data, follow_redirects=False)
        assert response.status_code == 400, (method, url, data, response.status_code)
        assert_secured(response)
        assert ran == [], (method, url, data)


def test_control_characters_hidden_in_the_posted_filters_are_refused_before_the_route_writes(engine: Engine) -> None:
    client, svc = make_client(engine)
    _, csrf = log_in(client)
    for url in ("/review/next", "/review/event-1/claim", "/review/event-1/skip", "/undo"):
        response = client.post(url, data={"csrf_token": csrf, "filters": "version=%00"}, follow_redirects=False)
        assert response.status_code == 400, url
        assert_secured(response)
    assert {a["action"] for a in svc.trail.actions(actor="alice")} == {"login"}


def test_a_note_may_hold_line_breaks_and_tabs(engine: Engine) -> None:
    client, svc = make_client(engine)
    _, csrf = log_in(client)
    client.post("/review/event-1/claim", data={"csrf_token": csrf})
    note = "第一行\r\n\tsecond line"
    response = client.post(
        "/review/event-1/label", data={"csrf_token": csrf, "label": "unsafe", "revision": "1", "note": note}
    )
    assert response.status_code == 200 and "msg=labelled" in str(response.url)
    label = svc.queue.item("event-1", svc.clock_ms()).label  # type: ignore[union-attr]
    assert label is not None and label.note == note.strip()


def test_bodies_other_than_small_forms_are_refused(engine: Engine) -> None:
    client, _ = make_client(engine)
    _, csrf = log_in(client)
    huge = client.post("/review/next", data={"csrf_token": csrf, "filters": "x" * 100_000})
    assert huge.status_code == 413
    assert_secured(huge)
    upload = client.post("/review/next", data={"csrf_token": csrf}, files={"f": ("a.txt", b"\x00")})
    assert upload.status_code == 415
    as_json = client.post("/review/next", json={"csrf_token": csrf})
    assert as_json.status_code == 415


def test_not_found_and_wrong_method_answers_carry_the_security_headers(engine: Engine) -> None:
    client, _ = make_client(engine)
    log_in(client)
    for response in (client.get("/nowhere"), client.get("/review/~%21"), client.put("/queue")):
        assert response.status_code in (404, 405)
        assert_secured(response)


def test_a_server_error_still_carries_the_security_headers_and_no_details(engine: Engine) -> None:
    client, _ = make_client(engine)
    log_in(client)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE review_sessions")
    response = client.get("/queue")
    assert response.status_code == 500
    assert_secured(response)
    assert "review_sessions" not in response.text and "Traceback" not in response.text


def test_a_second_reviewer_posting_a_used_revision_is_told_the_item_was_labelled_already(engine: Engine) -> None:
    alice, svc = make_client(engine)
    bob, _ = make_client(engine)
    svc.accounts.create_account("bob", svc.accounts.account("alice").password_hash, "reviewer", None, 1)  # type: ignore[union-attr]
    _, alice_csrf = log_in(alice)
    _, bob_csrf = log_in(bob, "bob")
    alice.post("/review/event-1/claim", data={"csrf_token": alice_csrf})
    form = {"label": "unsafe", "revision": "1"}
    assert "msg=labelled" in str(alice.post("/review/event-1/label", data={**form, "csrf_token": alice_csrf}).url)
    answer = bob.post("/review/event-1/label", data={**form, "label": "safe", "csrf_token": bob_csrf})
    assert "Label saved" not in answer.text and "labelled already" in answer.text
    assert "msg=already_labelled" in str(answer.url)
    label = svc.queue.item("event-1", svc.clock_ms()).label  # type: ignore[union-attr]
    assert label is not None and (label.reviewer, label.label) == ("alice", "unsafe")
    assert [a["detail"]["outcome"] for a in svc.trail.actions(actor="bob", action="label_rejected")] == [
        "already_labelled"
    ]


def test_a_login_form_token_is_good_for_one_attempt_only(engine: Engine) -> None:
    client, svc = make_client(engine)

    def replayed(token: str, nonce: str, password: str = PASSWORD) -> int:
        """The same form (token and its cookie) sent again, as an eavesdropper would."""
        replay, _ = make_client(engine)
        replay.cookies.set("gs_review_login", nonce, path="/login")
        form = {"username": "alice", "password": password, "login_token": token}
        return replay.post("/login", data=form, follow_redirects=False).status_code

    token, nonce = login_token(client), client.cookies.get("gs_review_login") or ""
    assert replayed(token, nonce, "wrong password!") == 401
    assert replayed(token, nonce) == 403
    token, nonce = login_token(client), client.cookies.get("gs_review_login") or ""
    assert replayed(token, nonce) == 303
    assert replayed(token, nonce) == 403
    actions = [a["action"] for a in reversed(svc.trail.actions(actor="alice"))]
    assert actions == ["login_failed", "login_csrf_rejected", "login", "login_csrf_rejected"]


def test_writes_to_items_that_do_not_exist_or_are_not_flagged_answer_404(engine: Engine, seed: Seed) -> None:
    client, svc = make_client(engine)
    _, csrf = log_in(client)
    longest, safe = to_segment("界" * MAX_ID_CHARS), seed(label="safe", p_unsafe=0.1)
    for url in (
        f"/review/{longest}/skip",
        f"/review/{longest}/label",
        "/review/nope/skip",
        "/review/nope/label",
        f"/review/{safe}/claim",
        f"/review/{safe}/skip",
        f"/review/{safe}/label",
    ):
        response = client.post(url, data={"csrf_token": csrf, "label": "safe", "revision": "1"}, follow_redirects=False)
        assert response.status_code == 404, url
    assert {a["action"] for a in svc.trail.actions(actor="alice")} == {"login"}


def test_malformed_origin_headers_are_refused_not_crashed_on(engine: Engine) -> None:
    client, _ = make_client(engine)
    _, csrf = log_in(client)
    for header, value in (("origin", "http://["), ("referer", "http://testserver:99999/"), ("origin", "data:,x")):
        response = client.post(
            "/review/next", data={"csrf_token": csrf}, headers={header: value}, follow_redirects=False
        )
        assert response.status_code == 403, (header, value)
