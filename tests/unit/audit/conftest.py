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


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """For what only SQLite does (a test of it is not skipped on PostgreSQL: it does not run there)."""
    with migrated_audit_engine("sqlite", tmp_path) as engine:
        yield engine


@pytest.fixture
def postgresql_engine(tmp_path: Path) -> Iterator[Engine]:
    """For what only PostgreSQL does; its tests are marked integration, as the stack provides it."""
    with migrated_audit_engine("postgresql", tmp_path) as engine:
        yield engine
