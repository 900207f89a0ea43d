"""Building the audit store's engine and bringing its schema to the newest migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from guardstream.errors import DependencyUnavailableError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x6775617264  # "guard": the advisory lock key that serialises migrations


def build_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL mode so readers never block the worker."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Apply every pending Alembic migration (idempotent)."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Workers that start together would race to create the same tables; one migrates at a
            # time (the lock ends with this transaction), the others then find the schema current.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def outage(exc: DBAPIError) -> DependencyUnavailableError | None:
    """The audit store's outage behind ``exc`` (the connection failed or was lost), or None when the
    database answered and refused the statement."""
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        return DependencyUnavailableError("audit", f"audit store unavailable: {exc.orig!r}")
    return None
