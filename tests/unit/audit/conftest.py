"""The audit store under test, on SQLite and on the stack's PostgreSQL (a schema of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from guardstream.audit.store import AuditStore
from tests.support.stack import migrated_audit_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def audit_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_audit_engine(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
def store(audit_engine: Engine) -> AuditStore:
    return AuditStore(audit_engine)
