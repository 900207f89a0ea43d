"""The real review app (uvicorn on a free port) over the real Kafka and a real database, and
Debian's Chromium driven by Playwright.

Needs the local stack (`guardstream dev up`); skips without it unless GUARDSTREAM_REQUIRE_STACK=1.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import NewTopic

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.feedback_outbox import FeedbackOutbox
from guardstream.audit.store import AuditStore
from guardstream.records import Feedback, VerdictLabel
from guardstream.serde.codec import decode_record
from guardstream.settings import Settings
from tests.support.audit_records import event_and_verdict
from tests.support.stack import postgres_schema, stack_settings, unavailable
from workers.kafka_clients import build_reader, build_settings_admin_client
from workers.review.app import create_app
from workers.review.auth import hash_password
from workers.review.server import build_services
from workers.review.services import ReviewServices
from workers.review.settings import ReviewSettings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session", name="stack_settings")
def stack_settings_fixture() -> Settings:
    return stack_settings()


@pytest.fixture()
def feedback_topic(stack_settings: Settings) -> Iterator[str]:
    name = f"test.feedback.{uuid.uuid4().hex[:10]}"
    admin = build_settings_admin_client(stack_settings.kafka)
    for future in admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)]).values():
        future.result(timeout=30)
    yield name
    for future in admin.delete_topics([name], operation_timeout=30).values():
        future.result(timeout=30)


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
        return
    with postgres_schema("e2e") as url:
        yield url


@dataclass
class RunningApp:
    url: str
    services: ReviewServices
    outbox: FeedbackOutbox
    audit: AuditStore
    settings: Settings
    topic: str

    def seed(self, label: str = "unsafe", p_unsafe: float = 0.9, **fields: Any) -> str:
        """Write a verdict as the moderation worker would; fields override ChatEvent/Verdict fields."""
        index = int(fields.pop("index", 0))
        event, verdict = event_and_verdict(index, p_unsafe=p_unsafe)
        event_id = fields.pop("event_id", f"e2e-{uuid.uuid4().hex[:10]}")
        event_fields = {k: fields.pop(k) for k in ("text", "question", "context", "role") if k in fields}
        event = dataclasses.replace(event, event_id=event_id, **event_fields)
        verdict = dataclasses.replace(
            verdict, event_id=event_id, label=VerdictLabel(label), p_unsafe=p_unsafe, **fields
        )
        self.audit.write([(event, verdict)], [])
        return event_id

    def add_user(self, username: str, role: str = "reviewer") -> None:
        assert self.services.accounts.create_account(
            username, hash_password(PASSWORD), role, None, int(time.time() * 1000)
        )

    def feedback_on_topic(self, expected: int, timeout_s: float = 30.0, settle_s: float = 2.0) -> list[Feedback]:
        """read_committed records of the topic: waits for ``expected``, then a little longer for extras."""
        reader = build_reader(self.settings.kafka, f"e2e-{uuid.uuid4().hex[:8]}")
        reader.subscribe([self.topic])
        found: list[Feedback] = []
        deadline = time.monotonic() + timeout_s
        settle_until: float | None = None
        try:
            while time.monotonic() < deadline:
                if len(found) >= expected and settle_until is None:
                    settle_until = time.monotonic() + settle_s
                if settle_until is not None and time.monotonic() > settle_until:
                    break
                message = reader.poll(0.3)
                if message is None or message.error() is not None:
                    continue
                found.append(decode_record(Feedback, message.value()))
        finally:
            reader.close()
        return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def start_app(stack_settings: Settings, feedback_topic: str, audit_url: str) -> Iterator[Callable[..., RunningApp]]:
    import uvicorn

    servers: list[tuple[Any, threading.Thread]] = []

    def start(**review_overrides: Any) -> RunningApp:
        topics = stack_settings.topics.model_copy(update={"feedback": feedback_topic})
        settings = stack_settings.model_copy(
            update={"topics": topics, "audit": stack_settings.audit.model_copy(update={"url": audit_url})}
        )
        review = ReviewSettings(
            secure_cookies=False,
            secret_key="e2e-" + "k" * 40,
            undo_window_s=review_overrides.pop("undo_window_s", 4.0),
            relay_interval_s=0.2,
            relay_transactional_id=f"e2e-review-{uuid.uuid4().hex[:8]}",
            **review_overrides,
        )
        services = build_services(settings, review)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the review app did not start"
            time.sleep(0.05)
        servers.append((server, thread))
        engine = build_engine(audit_url)
        migrate(engine)
        return RunningApp(
            f"http://127.0.0.1:{port}", services, FeedbackOutbox(engine), AuditStore(engine), settings, feedback_topic
        )

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: Playwright's sync API keeps an asyncio loop running in this
    thread while it is open, which would break later tests that run their own loop."""
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def log_in(page: Any, base_url: str, username: str) -> None:
    """Keyboard only: the username field has focus on arrival."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/queue")
    page.wait_for_url(re.compile(r"/login\?next="))
    # A locator assertion, not wait_for_function: the app's CSP forbids eval, which the page-side
    # polling of a string predicate needs whenever the first check comes too early (CI, slow start).
    expect(page.locator("input[name='username']")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^http://[^/]+/queue$"))


def press(page: Any, key: str, wait_url: str | None = None) -> None:
    """A key press; with ``wait_url``, waits for the navigation it causes to reach that URL."""
    if wait_url is None:
        page.keyboard.press(key)
        return
    with page.expect_navigation(url=re.compile(wait_url)):
        page.keyboard.press(key)
