"""Building the audit store's engine and bringing its schema to the newest migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from guardstream.errors import ConfigurationError, DependencyUnavailableError

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


def alembic_config() -> Config:
    """Alembic's configuration of the audit store's migrations (the connection is added by the caller)."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def prepare_schema(engine: Engine, migrate_on_start: bool) -> None:
    """What a service does with the schema when it starts: migrate it, or, where the migrations run apart
    (``audit.migrate_on_start`` false: a deployment's migration job), only check that it is current."""
    if migrate_on_start:
        migrate(engine)
    else:
        check_current(engine)


def check_current(engine: Engine) -> None:
    """Stop with a ConfigurationError unless the schema is at the newest migration."""
    newest = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current != newest:
        raise ConfigurationError(
            f"the audit store's schema is at {sorted(current) or 'no migration'}, not the newest {sorted(newest)}: "
            "run `guardstream audit migrate` first (GUARDSTREAM_AUDIT__MIGRATE_ON_START is false)"
        )


def migrate(engine: Engine) -> None:
    """Apply every pending Alembic migration (idempotent)."""
    config = alembic_config()
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
