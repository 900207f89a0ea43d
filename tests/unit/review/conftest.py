"""The review app's stores and the feedback outbox on SQLite and on a real PostgreSQL (a schema per
test), and seeded verdicts."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.feedback_outbox import FeedbackOutbox
from guardstream.audit.store import AuditStore
from guardstream.records import VerdictLabel
from tests.support.audit_records import event_and_verdict
from tests.support.stack import unavailable
from workers.review.accounts import AccountStore
from workers.review.queue import ReviewQueue
from workers.review.trail import ReviewTrail

Seed = Callable[..., str]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    base = ""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        base = os.environ.get("GUARDSTREAM_TEST_POSTGRES_URL", "")
        if not base:
            unavailable("GUARDSTREAM_TEST_POSTGRES_URL is not set")
        schema = f"test_{uuid.uuid4().hex[:12]}"
        with build_engine(base).begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{base}?options=-csearch_path%3D{schema}"
    built = build_engine(url)
    migrate(built)
    migrate(built)  # idempotent
    yield built
    built.dispose()
    if schema is not None:
        with build_engine(base).begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture()
def queue(engine: Engine) -> ReviewQueue:
    return ReviewQueue(engine)


@pytest.fixture()
def outbox(engine: Engine) -> FeedbackOutbox:
    return FeedbackOutbox(engine)


@pytest.fixture()
def accounts(engine: Engine) -> AccountStore:
    return AccountStore(engine)


@pytest.fixture()
def trail(engine: Engine) -> ReviewTrail:
    return ReviewTrail(engine)


@pytest.fixture()
def seed(engine: Engine) -> Seed:
    """Write one verdict as the worker would; keyword arguments override Verdict/ChatEvent fields."""
    audit = AuditStore(engine)
    counter = iter(range(10_000))

    def write(label: str = "unsafe", p_unsafe: float = 0.9, verdict_at_ms: int | None = None, **fields: Any) -> str:
        index = next(counter)
        event, verdict = event_and_verdict(index, p_unsafe=p_unsafe)
        event_fields = {k: fields.pop(k) for k in ("text", "question", "context", "role") if k in fields}
        event_id = fields.pop("event_id", f"ev-{uuid.uuid4().hex[:8]}-{index}")
        event = dataclasses.replace(event, event_id=event_id, **event_fields)
        verdict = dataclasses.replace(
            verdict,
            event_id=event_id,
            label=VerdictLabel(label),
            p_unsafe=p_unsafe,
            verdict_at_ms=verdict_at_ms if verdict_at_ms is not None else 1_000 + index,
            **fields,
        )
        audit.write([(event, verdict)], [])
        return event_id

    return write
