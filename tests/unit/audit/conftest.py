"""The audit store under test, on SQLite and on the stack's PostgreSQL (a schema of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.store import AuditStore
from tests.support.stack import postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditStore]:
    with ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'audit.db'}" if request.param == "sqlite" else stack.enter_context(postgres_schema())
        engine = build_engine(url)
        migrate(engine)
        yield AuditStore(engine)
        engine.dispose()
