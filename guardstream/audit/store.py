"""The audit store's reads and writes.

Writes are idempotent upserts keyed by event_id (verdicts) and by source position (dead letters,
duplicates), so a batch replayed after a crash changes nothing. The first verdict written for an
event_id owns it; a verdict for the same event_id from another source position is a duplicate
(:mod:`guardstream.audit.duplicates`), recorded in the same transaction and returned to the writer. A database that cannot be reached raises
:class:`~guardstream.errors.DependencyUnavailableError` (``audit``): the worker backs off and retries, never skips. A
database that refuses what the rows hold (a value too long for its column, a constraint, an
encoding) raises :class:`AuditRejectedError`: retrying the same rows cannot help.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from guardstream.audit.duplicates import Duplicate, Position, duplicate_row, find_duplicates, source_position
from guardstream.audit.engine import outage
from guardstream.audit.shadow import ShadowDecision, shadow_row
from guardstream.audit.tables import (
    AnalysisRow,
    DeadLetterRow,
    DuplicateRow,
    ShadowDecisionRow,
    VerdictRevisionRow,
    VerdictRow,
    row_dict,
)
from guardstream.errors import PoisonInputError
from guardstream.records import Analysis, ChatEvent, ChatRole, DeadLetter, Verdict

PERCENTILES = (50, 95, 99)
_OWNER_LOOKUP_CHUNK = 500
_CONTENT_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
"""Errors caused by what a statement carries: data exceptions (a value too long, a bad encoding),
integrity constraint violations, program limits (an index row too large)."""


class AuditRejectedError(PoisonInputError):
    """The database refused a write for what its rows hold, not for being unavailable."""

    def __init__(self, reason: str) -> None:
        super().__init__("audit_rejected", reason)


@dataclass(frozen=True, slots=True)
class AuditStats:
    total: int
    by_label: dict[str, int]
    by_model_version: dict[str, int]
    dead_letters_by_kind: dict[str, int]
    end_to_end_ms: dict[str, float]
    inference_ms: dict[str, float]


class AuditStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._postgres else sqlite.insert

    def write(
        self,
        verdicts: Sequence[tuple[ChatEvent, Verdict]],
        dead: Sequence[DeadLetter],
        shadows: Sequence[ShadowDecision] = (),
        revisions: Sequence[Verdict] = (),
    ) -> list[Duplicate]:
        """Record a batch in one database transaction; rows already present are left as they are.

        ``shadows`` are a shadow policy's decisions, ``revisions`` later verdicts on events that have
        one (keyed by event_id and revision: a replay changes nothing).

        Returns the verdicts that are duplicates (their event_id's verdict came from another source
        position, earlier or earlier in this batch), recorded in the duplicates table: the caller
        must not produce them. Rows go in event_id order, so two workers writing copies of the same
        events lock them in the same order and never deadlock.

        The hot path skips the ORM: PostgreSQL gets the whole batch as one JSON document in one
        ``INSERT … SELECT FROM json_populate_recordset`` (one parameter, serialised by the C JSON
        encoder, parsed by the server) that returns the rows it inserted, SQLite one
        ``executemany`` whose row count says whether all were new; both ``ON CONFLICT DO
        NOTHING``, both through SQLAlchemy so that errors keep their classes. The owners of the
        event_ids not known to be inserted are then read back.
        """
        duplicates: list[Duplicate] = []
        with self._session() as session:
            if verdicts:
                ordered = sorted(verdicts, key=lambda pair: pair[1].event_id)
                owners = self._insert_verdicts(session, ordered)
                missing = {verdict.event_id for _, verdict in ordered} - owners.keys()
                owners.update(_stored_owners(session, sorted(missing)))
                duplicates = find_duplicates([verdict for _, verdict in ordered], owners)
            if duplicates:
                session.execute(
                    self._insert(DuplicateRow).on_conflict_do_nothing(), [duplicate_row(d) for d in duplicates]
                )
            if dead:
                rows = [dead_letter_row(letter) for letter in dead]
                session.execute(self._insert(DeadLetterRow).on_conflict_do_nothing(), rows)
            if shadows:
                rows = [shadow_row(decision) for decision in shadows]
                session.execute(self._insert(ShadowDecisionRow).on_conflict_do_nothing(), rows)
            if revisions:
                rows = [revision_row(verdict) for verdict in revisions]
                session.execute(self._insert(VerdictRevisionRow).on_conflict_do_nothing(), rows)
        return duplicates

    def revisions(self, event_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The later verdicts on these events (revision 1: the model's, after a fallback verdict), by event_id."""
        found: dict[str, list[dict[str, Any]]] = {}
        with self._session() as session:
            rows = session.scalars(
                select(VerdictRevisionRow)
                .where(VerdictRevisionRow.event_id.in_(event_ids))
                .order_by(VerdictRevisionRow.event_id, VerdictRevisionRow.revision)
            )
            for row in rows:
                found.setdefault(row.event_id, []).append(row_dict(row))
        return found

    def shadow_decisions(self, event_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The shadow policies' decisions on these events, by event_id."""
        found: dict[str, list[dict[str, Any]]] = {}
        with self._session() as session:
            rows = session.scalars(
                select(ShadowDecisionRow)
                .where(ShadowDecisionRow.event_id.in_(event_ids))
                .order_by(ShadowDecisionRow.event_id, ShadowDecisionRow.policy_id, ShadowDecisionRow.policy_version)
            )
            for row in rows:
                found.setdefault(row.event_id, []).append(row_dict(row))
        return found

    def _insert_verdicts(self, session: Session, verdicts: Sequence[tuple[ChatEvent, Verdict]]) -> dict[str, Position]:
        """Insert what is new; returns the source position of each row inserted, when the path tells."""
        connection = session.connection()
        values = [verdict_values(event, verdict) for event, verdict in verdicts]
        if not self._postgres:
            result = connection.exec_driver_sql(_SQLITE_INSERT_VERDICTS, [_json_columns_as_text(row) for row in values])
            if result.rowcount == len(values):  # every row was new: each owns its event_id, nothing to read back
                return {verdict.event_id: source_position(verdict) for _, verdict in verdicts}
            return {}
        if (document := _json_rows(values)) is not None:
            inserted = connection.exec_driver_sql(_PG_INSERT_VERDICTS, (document,)).all()
            return {str(event_id): (topic, partition, offset) for event_id, topic, partition, offset in inserted}
        # a non-finite float has no JSON form: the (slower) ORM path takes it as it is
        rows = [verdict_row(event, verdict) for event, verdict in verdicts]
        session.execute(self._insert(VerdictRow).on_conflict_do_nothing(), rows)
        return {}

    def duplicates(self, event_id: str) -> list[dict[str, Any]]:
        """The copies of this event recorded as duplicates, in the order they were read."""
        with self._session() as session:
            rows = session.scalars(
                select(DuplicateRow)
                .where(DuplicateRow.event_id == event_id)
                .order_by(DuplicateRow.source_topic, DuplicateRow.source_partition, DuplicateRow.source_offset)
            )
            return [row_dict(row) for row in rows]

    def duplicate_count(self) -> int:
        with self._session() as session:
            return session.scalar(select(func.count()).select_from(DuplicateRow)) or 0

    def verdict(self, event_id: str) -> dict[str, Any] | None:
        with self._session() as session:
            row = session.get(VerdictRow, event_id)
            return None if row is None else row_dict(row)

    def record_analysis(self, event_id: str, analysis: str) -> bool:
        """Keep an explanation fetched on demand with the verdict; False if there is no verdict."""
        with self._session() as session:
            row = session.get(VerdictRow, event_id)
            if row is None:
                return False
            row.analysis = analysis
            return True

    def judged_events(self, event_ids: Sequence[str]) -> dict[str, ChatEvent]:
        """The chat events these recorded verdicts judged (what explain mode is asked about), by event_id."""
        if not event_ids:
            return {}
        with self._session() as session:
            rows = session.scalars(select(VerdictRow).where(VerdictRow.event_id.in_(list(event_ids))))
            return {row.event_id: _judged_event(row) for row in rows}

    def record_analyses(self, analyses: Sequence[Analysis]) -> None:
        """Keep each analysis beside its verdict; one already recorded for an event is left as it is."""
        if not analyses:
            return
        with self._session() as session:
            session.execute(self._insert(AnalysisRow).on_conflict_do_nothing(), [analysis_row(a) for a in analyses])

    def analyses(self, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The recorded analyses of these events, by event_id (events with none are left out)."""
        if not event_ids:
            return {}
        with self._session() as session:
            rows = session.scalars(select(AnalysisRow).where(AnalysisRow.event_id.in_(list(event_ids))))
            return {row.event_id: row_dict(row) for row in rows}

    def verdict_count(self) -> int:
        with self._session() as session:
            return session.scalar(select(func.count()).select_from(VerdictRow)) or 0

    def dead_letter_count(self) -> int:
        with self._session() as session:
            return session.scalar(select(func.count()).select_from(DeadLetterRow)) or 0

    def stats(self) -> AuditStats:
        with self._session() as session:
            total = session.scalar(select(func.count()).select_from(VerdictRow)) or 0
            return AuditStats(
                total=total,
                by_label=_counts(session, VerdictRow.label),
                by_model_version=_counts(session, VerdictRow.model_version),
                dead_letters_by_kind=_counts(session, DeadLetterRow.kind),
                end_to_end_ms=_percentiles(session, VerdictRow.end_to_end_ms, total),
                inference_ms=_percentiles(session, VerdictRow.inference_ms, total),
            )

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self._engine) as session, session.begin():
                yield session
        except DBAPIError as exc:
            if not exc.connection_invalidated and _refused_for_content(exc):
                raise AuditRejectedError(_refusal(exc)) from exc
            if unavailable := outage(exc):
                raise unavailable from exc
            raise


def _stored_owners(session: Session, event_ids: Sequence[str]) -> dict[str, Position]:
    """The source position of each of these event_ids' stored verdict (read in chunks)."""
    owners: dict[str, Position] = {}
    columns = (VerdictRow.event_id, VerdictRow.source_topic, VerdictRow.source_partition, VerdictRow.source_offset)
    for start in range(0, len(event_ids), _OWNER_LOOKUP_CHUNK):
        chunk = list(event_ids[start : start + _OWNER_LOOKUP_CHUNK])
        for event_id, topic, partition, offset in session.execute(
            select(*columns).where(VerdictRow.event_id.in_(chunk))
        ):
            owners[event_id] = (topic, partition, offset)
    return owners


def _sqlstate(exc: DBAPIError) -> str | None:
    sqlstate = getattr(exc.orig, "sqlstate", None)  # psycopg's, when the server answered
    return sqlstate if isinstance(sqlstate, str) and len(sqlstate) == 5 else None


def _refused_for_content(exc: DBAPIError) -> bool:
    """Decided by the SQLSTATE class when the server sent one, else by the DB-API class (SQLite,
    or psycopg refusing a value before sending it, as a NUL character)."""
    sqlstate = _sqlstate(exc)
    if sqlstate is not None:
        return sqlstate[:2] in _CONTENT_SQLSTATE_CLASSES
    return isinstance(exc, (DataError, IntegrityError))


def _refusal(exc: DBAPIError) -> str:
    """The database's own words, first line only: details may quote the row, which may be huge."""
    lines = str(exc.orig).strip().splitlines()
    code = _sqlstate(exc) or type(exc.orig).__name__
    return f"the audit store refused the row ({code}): {lines[0][:300] if lines else 'no message'}"


def verdict_row(event: ChatEvent, verdict: Verdict) -> dict[str, Any]:
    return {
        "conversation_id": verdict.conversation_id,
        "user_id": verdict.user_id,
        "role": event.role.value,
        "question": event.question,
        "text": event.text,
        "context": list(event.context),
        "analysis": verdict.analysis,
        "event_created_at_ms": verdict.event_created_at_ms,
        "queue_ms": verdict.queue_ms,
        "inference_ms": verdict.inference_ms,
        "end_to_end_ms": verdict.end_to_end_ms,
        "trace_id": verdict.trace_id,
        **_decision(verdict),
    }


def revision_row(verdict: Verdict) -> dict[str, Any]:
    return {"revision": verdict.revision, **_decision(verdict)}


def _decision(verdict: Verdict) -> dict[str, Any]:
    """The columns a verdict row and a revision row share: what was decided, by what, read where."""
    return {
        "event_id": verdict.event_id,
        "label": verdict.label.value,
        "p_unsafe": verdict.p_unsafe,
        "categories": [{"category": c.category, "score": c.score} for c in verdict.categories],
        "model_name": verdict.model_name,
        "model_version": verdict.model_version,
        "policy_id": verdict.policy_id,
        "policy_version": verdict.policy_version,
        "decided_by": verdict.decided_by.value if verdict.decided_by is not None else None,
        "blocklist_hits": [hit.to_avro() for hit in verdict.blocklist_hits],
        "verdict_at_ms": verdict.verdict_at_ms,
        "source_topic": verdict.source_topic,
        "source_partition": verdict.source_partition,
        "source_offset": verdict.source_offset,
    }


# Column order of verdict_values, with the PostgreSQL type each array is cast to.
VERDICT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "text"),
    ("conversation_id", "text"),
    ("user_id", "text"),
    ("role", "text"),
    ("question", "text"),
    ("text", "text"),
    ("context", "json"),
    ("label", "text"),
    ("p_unsafe", "float8"),
    ("categories", "json"),
    ("analysis", "text"),
    ("model_name", "text"),
    ("model_version", "text"),
    ("policy_version", "text"),
    ("event_created_at_ms", "int8"),
    ("verdict_at_ms", "int8"),
    ("queue_ms", "float8"),
    ("inference_ms", "float8"),
    ("end_to_end_ms", "float8"),
    ("trace_id", "text"),
    ("source_topic", "text"),
    ("source_partition", "int4"),
    ("source_offset", "int8"),
    ("policy_id", "text"),
    ("decided_by", "text"),
    ("blocklist_hits", "json"),
)
_NAMES = ", ".join(name for name, _ in VERDICT_COLUMNS)
_PG_INSERT_VERDICTS = (
    f"INSERT INTO verdicts ({_NAMES}) SELECT {_NAMES} "
    "FROM json_populate_recordset(NULL::verdicts, %s::json) ON CONFLICT DO NOTHING "
    "RETURNING event_id, source_topic, source_partition, source_offset"
)
_JSON_COLUMNS = frozenset(index for index, (_, kind) in enumerate(VERDICT_COLUMNS) if kind == "json")
_SQLITE_INSERT_VERDICTS = (
    f"INSERT INTO verdicts ({_NAMES}) VALUES ({', '.join('?' for _ in VERDICT_COLUMNS)}) ON CONFLICT DO NOTHING"
)


_NAMES_LIST = [name for name, _ in VERDICT_COLUMNS]


def _json_rows(values: list[tuple[Any, ...]]) -> str | None:
    """The rows as one JSON array of objects; None when a value has no JSON form (NaN)."""
    names = _NAMES_LIST
    rows = [dict(zip(names, row, strict=True)) for row in values]
    try:
        return json.dumps(rows, ensure_ascii=False, allow_nan=False)
    except ValueError:  # allow_nan=False: NaN and the infinities have no JSON form
        return None


def _json_columns_as_text(row: tuple[Any, ...]) -> tuple[Any, ...]:
    values = list(row)
    for index in _JSON_COLUMNS:
        values[index] = json.dumps(values[index], ensure_ascii=False)
    return tuple(values)


def verdict_values(event: ChatEvent, verdict: Verdict) -> tuple[Any, ...]:
    """One verdict row as a tuple in :data:`VERDICT_COLUMNS` order (JSON columns as lists)."""
    return (
        verdict.event_id,
        verdict.conversation_id,
        verdict.user_id,
        event.role.value,
        event.question,
        event.text,
        list(event.context),
        verdict.label.value,
        verdict.p_unsafe,
        [{"category": c.category, "score": c.score} for c in verdict.categories],
        verdict.analysis,
        verdict.model_name,
        verdict.model_version,
        verdict.policy_version,
        verdict.event_created_at_ms,
        verdict.verdict_at_ms,
        verdict.queue_ms,
        verdict.inference_ms,
        verdict.end_to_end_ms,
        verdict.trace_id,
        verdict.source_topic,
        verdict.source_partition,
        verdict.source_offset,
        verdict.policy_id,
        verdict.decided_by.value if verdict.decided_by is not None else None,
        [hit.to_avro() for hit in verdict.blocklist_hits],
    )


def analysis_row(analysis: Analysis) -> dict[str, Any]:
    return {
        "event_id": analysis.event_id,
        "status": analysis.status.value,
        "analysis": analysis.analysis,
        "explain_label": analysis.explain_label,
        "category": analysis.category,
        "reason": analysis.reason,
        "model_name": analysis.model_name,
        "model_version": analysis.model_version,
        "analysed_at_ms": analysis.analysed_at_ms,
        "explain_ms": analysis.explain_ms,
    }


def _judged_event(row: VerdictRow) -> ChatEvent:
    return ChatEvent(
        event_id=row.event_id,
        conversation_id=row.conversation_id,
        user_id=row.user_id,
        role=ChatRole(row.role),
        text=row.text,
        question=row.question,
        context=tuple(row.context or ()),
        created_at_ms=row.event_created_at_ms,
    )


def dead_letter_row(letter: DeadLetter) -> dict[str, Any]:
    return {
        "source_topic": letter.source_topic,
        "source_partition": letter.source_partition,
        "source_offset": letter.source_offset,
        "kind": letter.kind,
        "reason": letter.reason,
        "event_id": letter.event_id,
        "payload_size": letter.payload_size,
        "failed_at_ms": letter.failed_at_ms,
        "worker_id": letter.worker_id,
    }


def _counts(session: Session, column: Any) -> dict[str, int]:
    return {str(key): count for key, count in session.execute(select(column, func.count()).group_by(column))}


def _percentiles(session: Session, column: Any, total: int) -> dict[str, float]:
    """Nearest-rank percentiles, computed in the database with no dialect-specific function."""
    result: dict[str, float] = {}
    for percentile in PERCENTILES:
        if total == 0:
            continue
        rank = max(0, min(total - 1, -(-percentile * total // 100) - 1))
        value = session.scalar(select(column).order_by(column).offset(rank).limit(1))
        result[f"p{percentile}"] = float(value)  # type: ignore[arg-type]  # rank < total: the row is there
    return result
