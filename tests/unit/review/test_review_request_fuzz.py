"""Requests with arbitrary text in every place a client controls never get a 500 (SQLite and PostgreSQL)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.unit.review.app_client import log_in, make_client
from tests.unit.review.test_review_hostile_requests import assert_secured

ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
FIELDS = st.sampled_from(
    [
        "label",
        "category",
        "version",
        "since",
        "until",
        "status",
        "order",
        "page",
        "msg",
        "actor",
        "next",
        "filters",
        "note",
        "revision",
        "username",
        "password",
        "csrf_token",
    ]
)
ROUTES = st.sampled_from(
    [
        ("GET", "/review/{}"),
        ("GET", "/review/{}/full/text"),
        ("GET", "/review/event-1/full/{}"),
        ("POST", "/review/{}/claim"),
        ("POST", "/review/{}/label"),
        ("POST", "/review/{}/skip"),
        ("POST", "/review/{}/explain"),
        ("POST", "/review/next"),
        ("POST", "/undo"),
        ("GET", "/queue"),
        ("GET", "/admin/trail"),
        ("POST", "/admin/users"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/{}"),
    ]
)


def send(client: TestClient, csrf: str, route: tuple[str, str], segment: str, fields: dict[str, str]) -> int:
    method, template = route
    url = template.format(quote(segment, safe=""))
    if method == "GET":
        response = client.get(f"{url}?{urlencode(fields)}", follow_redirects=False)
    else:
        response = client.post(url, data={"csrf_token": csrf, **fields}, follow_redirects=False)
    assert_secured(response)
    return response.status_code


def test_no_request_gets_a_server_error(engine: Engine) -> None:
    client, _ = make_client(engine)
    _, csrf = log_in(client, "root")

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(route=ROUTES, segment=ANY_TEXT, fields=st.dictionaries(FIELDS, ANY_TEXT, max_size=5))
    def check(route: tuple[str, str], segment: str, fields: dict[str, str]) -> None:
        status = send(client, csrf, route, segment, fields)
        assert status < 500, (route, segment, fields)

    check()
