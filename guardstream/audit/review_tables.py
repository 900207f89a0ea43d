"""SQLAlchemy tables of the review web app (created by migrations 0002 and 0004).

Accounts and sessions, leases that keep two reviewers off the same item, the labels themselves
(which double as the outbox of ``moderation.feedback``), cached on-demand explanations, and the
trail of every reviewer action.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guardstream.audit.tables import Base
from guardstream.limits import ID_CHARS


class ReviewAccountRow(Base):
    """A person who may log in; the password is stored only as an Argon2 hash."""

    __tablename__ = "review_accounts"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(String(64))


class ReviewSessionRow(Base):
    """A logged-in browser; the cookie carries the token, the table only its SHA-256."""

    __tablename__ = "review_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    expires_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class ReviewLeaseRow(Base):
    """Who is looking at a flagged item, until when; an expired lease is free to take."""

    __tablename__ = "review_leases"

    event_id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(64))
    expires_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class ReviewLabelRow(Base):
    """One human label, and the outbox row of its Feedback record.

    ``feedback_id`` is derived from (event_id, revision), and (event_id, revision) is unique, so a
    label submitted twice is stored once. ``claimed_at_ms`` marks the moment the relay committed
    to sending it; ``published_at_ms`` the moment its Kafka transaction is known to be committed.
    """

    __tablename__ = "review_labels"
    __table_args__ = (UniqueConstraint("event_id", "revision", name="uq_review_labels_event_revision"),)

    feedback_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(ID_CHARS), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    reviewer: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    model_label: Mapped[str | None] = mapped_column(String(16))
    model_version: Mapped[str | None] = mapped_column(String(64))
    labelled_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    retracted_at_ms: Mapped[int | None] = mapped_column(BigInteger)
    claimed_at_ms: Mapped[int | None] = mapped_column(BigInteger, index=True)
    published_at_ms: Mapped[int | None] = mapped_column(BigInteger)


class ReviewExplanationRow(Base):
    """An analysis fetched on demand from the guard model's explain mode."""

    __tablename__ = "review_explanations"

    event_id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    analysis: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)


class ReviewActionRow(Base):
    """The trail: one row per reviewer action (logins, failures, labels, undo, skips, admin)."""

    __tablename__ = "review_actions"

    action_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    event_id: Mapped[str | None] = mapped_column(String(ID_CHARS))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(64))


class ReviewLoginNonceRow(Base):
    """A login form's nonce (its SHA-256) once the form was posted: the form is not good again."""

    __tablename__ = "review_login_nonces"

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at_ms: Mapped[int] = mapped_column(BigInteger)
    expires_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
