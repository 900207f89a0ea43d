"""The audit store's side of a chaos run: a PostgreSQL schema of its own, counted afterwards.

The tables' keys (event_id; source position) make a second row impossible by construction; the
counts are taken from the table anyway (rows per key), so a changed key could not hide duplicates.
Events sent again are recorded in the duplicates table, not on a topic: :class:`DuplicateWatch`
reads it during a run, so that a re-sent record counts as accounted for once it is recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import make_url

from devtools.chaos.stream import Position
from guardstream.audit.engine import build_engine
from guardstream.policy import FLAGGED_LABELS


@dataclass(frozen=True, slots=True)
class AuditCounts:
    verdict_rows: int
    event_ids: frozenset[str]
    duplicate_event_ids: int
    flagged_ids: frozenset[str]
    dead_letter_rows: int
    duplicate_positions: int
    resent: dict[Position, tuple[str, Position]] = field(default_factory=dict)
    """Rows of the duplicates table of the run's input topic: position → (event_id, first position)."""
    resent_repeated: int = 0
    """Positions with more than one duplicates row."""
    revised_ids: frozenset[str] = frozenset()
    """Events with a revision row (the model's verdict after a fallback verdict)."""
    fallback_ids: frozenset[str] = frozenset()
    """Events whose verdict row is a fallback verdict."""


@contextmanager
def audit_schema(base_url: str, label: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema (search_path); dropped afterwards."""
    if make_url(base_url).get_backend_name() != "postgresql":
        raise ValueError(f"the chaos suite's audit store is PostgreSQL (db_outage stops it); got {base_url!r}")
    schema = f"chaos_{label}_{uuid.uuid4().hex[:8]}"
    engine = build_engine(base_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        separator = "&" if "?" in base_url else "?"
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


class DuplicateWatch:
    """The positions of ``topic`` the audit store recorded as duplicates, read on demand during a run."""

    def __init__(self, url: str, topic: str) -> None:
        self._engine = build_engine(url)
        self._topic = topic

    def positions(self) -> set[Position]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                text("SELECT source_partition, source_offset FROM duplicates WHERE source_topic = :topic"),
                {"topic": self._topic},
            )
            return {(int(partition), int(offset)) for partition, offset in rows}

    def close(self) -> None:
        self._engine.dispose()


def count_audit(url: str, topic: str) -> AuditCounts:
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            resent = connection.execute(
                text(
                    "SELECT source_partition, source_offset, min(event_id), min(first_partition), min(first_offset), "
                    "count(*) FROM duplicates WHERE source_topic = :topic GROUP BY source_partition, source_offset"
                ),
                {"topic": topic},
            ).all()
            rows = connection.execute(
                text("SELECT event_id, count(*), min(label) FROM verdicts GROUP BY event_id")
            ).all()
            revised = connection.execute(text("SELECT event_id FROM verdict_revisions")).scalars().all()
            fallen = (
                connection.execute(text("SELECT event_id FROM verdicts WHERE decided_by = 'fallback'")).scalars().all()
            )
            letters = connection.execute(
                text(
                    "SELECT source_topic, source_partition, source_offset, count(*) FROM dead_letters "
                    "GROUP BY source_topic, source_partition, source_offset"
                )
            ).all()
    finally:
        engine.dispose()
    return AuditCounts(
        verdict_rows=sum(int(count) for _, count, _ in rows),
        event_ids=frozenset(str(event_id) for event_id, _, _ in rows),
        duplicate_event_ids=sum(1 for _, count, _ in rows if count > 1),
        flagged_ids=frozenset(str(event_id) for event_id, _, label in rows if label in FLAGGED_LABELS),
        dead_letter_rows=sum(int(row[3]) for row in letters),
        duplicate_positions=sum(1 for row in letters if row[3] > 1),
        resent={(int(row[0]), int(row[1])): (str(row[2]), (int(row[3]), int(row[4]))) for row in resent},
        resent_repeated=sum(1 for row in resent if row[5] > 1),
        revised_ids=frozenset(str(event_id) for event_id in revised),
        fallback_ids=frozenset(str(event_id) for event_id in fallen),
    )
