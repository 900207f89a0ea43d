"""How the review app's stores and the feedback outbox reach the audit database.

Every call of theirs is one transaction. Losing the database is a
:class:`~guardstream.errors.DependencyUnavailableError` naming the audit store (retriable: the caller
backs off and tries again); an IntegrityError is left as it is, for the caller that expects it (a
label written twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from guardstream.audit.engine import outage

DialectInsert = Callable[[Any], postgresql.Insert | sqlite.Insert]
"""An INSERT with ON CONFLICT, which both PostgreSQL and SQLite have."""


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction, committed when the block ends; rows stay readable after it."""
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    except DBAPIError as exc:
        if isinstance(exc, IntegrityError):
            raise
        if unavailable := outage(exc):
            raise unavailable from exc
        raise


def dialect_insert(engine: Engine) -> DialectInsert:
    """The INSERT of the engine's dialect, for its ON CONFLICT clauses."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
