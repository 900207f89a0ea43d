"""SQLAlchemy table definitions of the audit store (the migrations create them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from guardstream.limits import ID_CHARS, POLICY_VERSION_CHARS, WORKER_ID_CHARS


class Base(DeclarativeBase):
    pass


def row_dict(row: Base) -> dict[str, Any]:
    """A mapped row as {column name: value}."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


class VerdictRow(Base):
    """One verdict per chat event; the key makes replays after a crash change nothing."""

    __tablename__ = "verdicts"

    event_id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(ID_CHARS), index=True)
    user_id: Mapped[str] = mapped_column(String(ID_CHARS), index=True)
    role: Mapped[str] = mapped_column(String(16))
    question: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    context: Mapped[list[str]] = mapped_column(JSON)
    label: Mapped[str] = mapped_column(String(16), index=True)
    p_unsafe: Mapped[float] = mapped_column(Float)
    categories: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    analysis: Mapped[str | None] = mapped_column(Text)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    policy_version: Mapped[str] = mapped_column(String(POLICY_VERSION_CHARS))
    event_created_at_ms: Mapped[int] = mapped_column(BigInteger)
    verdict_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    queue_ms: Mapped[float] = mapped_column(Float)
    inference_ms: Mapped[float] = mapped_column(Float)
    end_to_end_ms: Mapped[float] = mapped_column(Float)
    trace_id: Mapped[str | None] = mapped_column(String(64))
    source_topic: Mapped[str] = mapped_column(String(249))
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)
    policy_id: Mapped[str | None] = mapped_column(String(POLICY_VERSION_CHARS))
    decided_by: Mapped[str | None] = mapped_column(String(16))
    blocklist_hits: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)


class DeadLetterRow(Base):
    """One row per input that could not be processed, keyed by where it was read."""

    __tablename__ = "dead_letters"

    source_topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    source_partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(String(ID_CHARS))
    payload_size: Mapped[int] = mapped_column(BigInteger)
    failed_at_ms: Mapped[int] = mapped_column(BigInteger)
    worker_id: Mapped[str] = mapped_column(String(WORKER_ID_CHARS))


class DuplicateRow(Base):
    """An event read again at another source position after its event_id already had a verdict.

    Keyed by where the copy was read, as dead letters are, so a replay of the copy changes
    nothing; ``first_*`` names the position whose verdict stands (the verdicts row's source).
    """

    __tablename__ = "duplicates"

    source_topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    source_partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(ID_CHARS), index=True)
    first_topic: Mapped[str] = mapped_column(String(249))
    first_partition: Mapped[int] = mapped_column(Integer)
    first_offset: Mapped[int] = mapped_column(BigInteger)
    detected_at_ms: Mapped[int] = mapped_column(BigInteger)


class AnalysisRow(Base):
    """Explain mode's analysis of a flagged verdict, made after it: at most one per event.

    Kept beside the verdict row, which stays as it was decided: the analysis comes later, from
    another model request, with its own time and version.
    """

    __tablename__ = "analyses"

    event_id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    analysis: Mapped[str | None] = mapped_column(Text)
    explain_label: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(64))
    analysed_at_ms: Mapped[int] = mapped_column(BigInteger)
    explain_ms: Mapped[float] = mapped_column(Float)


class ShadowDecisionRow(Base):
    """What an observe-only (shadow) policy would have decided for an event; never published.

    Keyed by event and shadow policy version, so a batch replayed after a crash changes nothing.
    """

    __tablename__ = "shadow_decisions"

    event_id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(POLICY_VERSION_CHARS), primary_key=True)
    policy_version: Mapped[str] = mapped_column(String(POLICY_VERSION_CHARS), primary_key=True)
    label: Mapped[str] = mapped_column(String(16))
    p_unsafe: Mapped[float] = mapped_column(Float)
    decided_by: Mapped[str] = mapped_column(String(16))
    blocklist_hits: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    acting_policy_id: Mapped[str] = mapped_column(String(POLICY_VERSION_CHARS))
    acting_label: Mapped[str] = mapped_column(String(16))
    decided_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class VerdictRevisionRow(Base):
    """A later verdict on an event: the model's (revision 1), replacing a fallback verdict made while
    the model was away. The verdicts row keeps what was decided first; this row what superseded it."""

    __tablename__ = "verdict_revisions"

    event_id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(16), index=True)
    p_unsafe: Mapped[float] = mapped_column(Float)
    categories: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(64))
    policy_id: Mapped[str | None] = mapped_column(String(POLICY_VERSION_CHARS))
    policy_version: Mapped[str] = mapped_column(String(POLICY_VERSION_CHARS))
    decided_by: Mapped[str | None] = mapped_column(String(16))
    blocklist_hits: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    verdict_at_ms: Mapped[int] = mapped_column(BigInteger)
    source_topic: Mapped[str] = mapped_column(String(249))
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)
