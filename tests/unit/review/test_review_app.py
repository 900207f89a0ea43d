"""The web app over a real SQLite store (no browser): sessions, CSRF, headers, rate limits, roles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from guardstream.audit.engine import build_engine
from guardstream.audit.store import AuditStore
from tests.unit.review.app_client import PASSWORD, log_in, make_client
from workers.review import routes_admin, routes_auth, routes_queue
from workers.review.routes_auth import safe_next
from workers.review.services import ReviewServices
from workers.review.views import Renderer


def sqlite_client(tmp_path: Path, secure: bool = False) -> tuple[TestClient, ReviewServices]:
    return make_client(build_engine(f"sqlite:///{tmp_path / 'audit.db'}"), secure)


def test_pages_need_a_login(tmp_path: Path) -> None:
    client, _ = sqlite_client(tmp_path)
    response = client.get("/queue", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/queue"


def test_every_post_route_rejects_a_missing_or_wrong_csrf_token(tmp_path: Path) -> None:
    client, svc = sqlite_client(tmp_path)
    status, csrf = log_in(client, "root")
    assert status == 200 and csrf
    routers = [module.build_router(Renderer()) for module in (routes_auth, routes_queue, routes_admin)]
    posts = [
        r.path
        for router in routers
        for r in router.routes
        if "POST" in (getattr(r, "methods", None) or ()) and r.path != "/login"
    ]
    assert {"/logout", "/undo", "/review/next", "/review/{segment}/label", "/admin/users"} <= set(posts)
    for path in posts:
        url = path.replace("{segment}", "event-1")
        for form in ({}, {"csrf_token": "forged"}):
            response = client.post(url, data={**form, "label": "safe", "revision": "1"}, follow_redirects=False)
            assert response.status_code == 403, (url, form)
    assert (
        client.post("/review/next", data={"csrf_token": csrf}, headers={"origin": "https://evil.example"}).status_code
        == 403
    )
    assert svc.trail.actions(action="csrf_rejected")
    assert client.post("/review/next", data={"csrf_token": csrf}).status_code == 200


def test_login_form_without_its_token_is_refused(tmp_path: Path) -> None:
    client, _ = sqlite_client(tmp_path)
    assert client.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 403


def test_security_headers_and_cookie_flags(tmp_path: Path) -> None:
    client, _ = sqlite_client(tmp_path, secure=True)
    page = client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["cache-control"] == "no-store"
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "login_token": token}, follow_redirects=False
    )
    cookie = response.headers["set-cookie"]
    assert (
        "gs_review_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    )


def test_failed_logins_are_rate_limited_per_ip_and_username(tmp_path: Path) -> None:
    client, svc = sqlite_client(tmp_path)
    assert [log_in(client, "alice", "wrong password!")[0] for _ in range(3)] == [401, 401, 401]
    status, _ = log_in(client, "alice", PASSWORD)
    assert status == 429
    assert log_in(client, "root", PASSWORD)[0] == 200  # another username from the same IP still works
    actions = [a["action"] for a in svc.trail.actions()]
    assert actions.count("login_failed") == 3 and "login_blocked" in actions


def test_reviewers_cannot_reach_admin_pages(tmp_path: Path) -> None:
    client, _ = sqlite_client(tmp_path)
    log_in(client)
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/trail").status_code == 403
    assert client.get("/overview").status_code == 200


def test_admin_creates_a_reviewer_who_can_log_in(tmp_path: Path) -> None:
    client, _ = sqlite_client(tmp_path)
    _, csrf = log_in(client, "root")
    weak = client.post(
        "/admin/users", data={"csrf_token": csrf, "username": "bob", "password": "short", "role": "reviewer"}
    )
    assert weak.status_code == 400 and "at least 12" in weak.text
    created = client.post(
        "/admin/users", data={"csrf_token": csrf, "username": "bob", "password": PASSWORD, "role": "reviewer"}
    )
    assert created.status_code == 200 and "Account created" in created.text
    other, _ = sqlite_client(tmp_path)
    assert log_in(other, "bob")[0] == 200


def test_explanation_unavailable_is_said_plainly(tmp_path: Path) -> None:
    client, _ = sqlite_client(tmp_path)
    _, csrf = log_in(client)
    client.post("/review/event-1/claim", data={"csrf_token": csrf})
    response = client.post("/review/event-1/explain", data={"csrf_token": csrf})
    assert "explanation unavailable: explain model not loaded" in response.text


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example", "/\\evil", "javascript:alert(1)", "/q\nx"]
)
def test_login_never_redirects_off_site(target: str) -> None:
    assert safe_next(target) == "/queue"


def test_only_allowed_hosts_are_answered_and_slash_redirects_never_name_another_host(tmp_path: Path) -> None:
    client, _ = sqlite_client(tmp_path)
    for path in ("/login", "/queue/", "/review/event-1/"):
        response = client.get(path, headers={"host": "evil.example"}, follow_redirects=False)
        assert response.status_code == 400 and "evil.example" not in response.headers.get("location", ""), path
        assert response.headers["x-frame-options"] == "DENY"
    redirect = client.get("/queue/", follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "http://testserver/queue"


@pytest.mark.parametrize(
    ("header", "value", "accepted"),
    [
        ("origin", "https://testserver", False),  # another scheme
        ("origin", "http://testserver:8080", False),  # another port
        ("origin", "http://testserver.evil.example", False),
        ("referer", "https://testserver/queue", False),
        ("origin", "null", False),
        ("origin", "http://testserver", True),
        ("origin", "http://TESTSERVER:80", True),  # the same origin, spelt out
        ("referer", "http://testserver/queue?x=1", True),
    ],
)
def test_csrf_origin_check_compares_scheme_host_and_port(
    tmp_path: Path, header: str, value: str, accepted: bool
) -> None:
    client, _ = sqlite_client(tmp_path)
    _, csrf = log_in(client)
    response = client.post("/review/next", data={"csrf_token": csrf}, headers={header: value}, follow_redirects=False)
    assert (response.status_code == 303) is accepted, response.status_code


def test_failed_logins_are_limited_per_account_whatever_the_address(tmp_path: Path) -> None:
    client, svc = make_client(build_engine(f"sqlite:///{tmp_path / 'audit.db'}"), login_max_failures_per_account=4)

    def from_address(ip: str) -> TestClient:
        return TestClient(client.app, base_url="http://testserver", client=(ip, 40000))

    assert [log_in(from_address(f"10.0.0.{i}"), "alice", "wrong password!")[0] for i in range(4)] == [401] * 4
    assert log_in(from_address("10.0.0.99"), "alice", PASSWORD)[0] == 429
    assert log_in(from_address("10.0.0.99"), "root", PASSWORD)[0] == 200  # other accounts are not held up
    blocked = svc.trail.actions(action="login_blocked")
    assert [(a["actor"], a["ip"]) for a in blocked] == [("alice", "10.0.0.99")]


def test_the_analysis_made_after_the_verdict_shows_without_a_click(tmp_path: Path) -> None:
    from guardstream.records import Analysis, AnalysisStatus

    client, _ = sqlite_client(tmp_path)
    log_in(client)
    before = client.get("/review/event-1")
    assert 'id="explain-form"' in before.text and 'id="analysis"' not in before.text

    def analysis(event_id: str, text: str | None, reason: str | None) -> Analysis:
        return Analysis(
            event_id=event_id, conversation_id="c", user_id="u", verdict_label="unsafe",
            status=AnalysisStatus.EXPLAINED if text else AnalysisStatus.UNAVAILABLE, analysis=text, reason=reason,
            model_name="guard_explain", model_version="4", verdict_at_ms=1, analysed_at_ms=2, explain_ms=3.0,
            source_topic="moderation.flagged", source_partition=0, source_offset=0,
        )  # fmt: skip

    audit = AuditStore(build_engine(f"sqlite:///{tmp_path / 'audit.db'}"))
    audit.record_analyses(
        [analysis("event-1", "回答泄露了他人住址。", None), analysis("event-2", None, "Triton rejected the request")]
    )
    shown = client.get("/review/event-1")
    assert 'id="analysis"' in shown.text and "回答泄露了他人住址。" in shown.text
    assert "explain mode after the verdict, guard_explain v4" in shown.text
    assert 'id="explain-form"' not in shown.text
    unavailable = client.get("/review/event-2")
    assert "explanation unavailable: Triton rejected the request" in unavailable.text
    assert 'id="explain-form"' in unavailable.text  # a reviewer can still ask


def test_an_item_says_what_decided_it_its_blocklist_hits_and_the_models_later_revision(tmp_path: Path) -> None:
    import dataclasses

    from guardstream.records import BlocklistHit, Decider, VerdictLabel
    from tests.support.audit_records import event_and_verdict

    client, _ = sqlite_client(tmp_path)
    log_in(client)
    audit = AuditStore(build_engine(f"sqlite:///{tmp_path / 'audit.db'}"))
    event, verdict = event_and_verdict(7)
    hit = BlocklistHit(list_name="scams", list_version=3, term="刷单", category="illegal_activities", variant="pinyin")
    fallback = dataclasses.replace(
        verdict, label=VerdictLabel.REVIEW, decided_by=Decider.FALLBACK, policy_id="kids", blocklist_hits=(hit,)
    )
    audit.write([(event, fallback)], [])
    waiting = client.get(f"/review/{verdict.event_id}")
    assert "decided by fallback · 策略 policy kids" in waiting.text
    assert "<code>刷单</code> (scams v3, pinyin)" in waiting.text
    assert "the model has not judged it yet" in waiting.text
    revision = dataclasses.replace(
        fallback, revision=1, label=VerdictLabel.SAFE, decided_by=Decider.MODEL, p_unsafe=0.125
    )
    audit.write([], [], revisions=[revision])
    revised = client.get(f"/review/{verdict.event_id}")
    assert 'The model judged it later: <span class="badge safe">safe</span>' in revised.text and "0.125" in revised.text
