"""The review app under Starlette's TestClient over a given audit engine, and a login helper."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from guardstream.audit.engine import migrate
from guardstream.audit.store import AuditStore
from tests.support.audit_records import event_and_verdict
from workers.review.accounts import AccountStore
from workers.review.analyses import AnalysisStore
from workers.review.app import create_app
from workers.review.auth import CookieSigner, hash_password
from workers.review.explain import Explainer, ExplanationUnavailable
from workers.review.queue import ReviewQueue
from workers.review.ratelimit import LoginRateLimiter
from workers.review.services import ReviewServices
from workers.review.settings import ReviewSettings
from workers.review.trail import ReviewTrail

PASSWORD = "correct horse battery"


class NoExplainer:
    def explain(self, question: str, response: str) -> str:
        raise ExplanationUnavailable("explain model not loaded")


def make_client(
    engine: Engine, secure: bool = False, explainer: Explainer | None = None, **settings: Any
) -> tuple[TestClient, ReviewServices]:
    """The app with three flagged events (event-0..2), a reviewer alice and an admin root."""
    migrate(engine)
    AuditStore(engine).write([event_and_verdict(i) for i in range(3)], [])
    accounts = AccountStore(engine)
    accounts.create_account("alice", hash_password(PASSWORD), "reviewer", None, 1)
    accounts.create_account("root", hash_password(PASSWORD), "admin", None, 1)
    review = ReviewSettings(
        secure_cookies=secure, **{"login_max_failures": 3, "allowed_hosts": ("testserver",), **settings}
    )
    svc = ReviewServices(
        accounts=accounts,
        queue=ReviewQueue(engine),
        trail=ReviewTrail(engine),
        analyses=AnalysisStore(engine),
        settings=review,
        signer=CookieSigner("k" * 40, 3600),
        limiter=LoginRateLimiter(
            review.login_max_failures,
            review.login_max_failures_per_ip,
            review.login_max_failures_per_account,
            review.login_window_s,
        ),
        explainer=explainer or NoExplainer(),
        feedback_topic="moderation.feedback",
    )
    base = "https://testserver" if secure else "http://testserver"
    return TestClient(create_app(svc), base_url=base, raise_server_exceptions=False), svc


def log_in(client: httpx.Client, username: str = "alice", password: str = PASSWORD) -> tuple[int, str]:
    """Logs in through the form (a TestClient or a real HTTP client); (status, the session's CSRF token or "")."""
    page = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": username, "password": password, "login_token": token})
    found = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    return response.status_code, found.group(1) if found else ""
