"""Reads and writes of the review web app, and the labels the training job reads.

Labels are written once: ``feedback_id`` is derived from (event_id, revision) and (event_id,
revision) is unique, so a form submitted twice, or two reviewers racing for one item, store one
label; only the same label sent again counts as stored, any other loser is told it was not. The label row is also the outbox of ``moderation.feedback``: the relay claims rows
(``claimed_at_ms``), sends them in a Kafka transaction and then marks them published; an undo
that reaches a row before it is claimed keeps it off the topic for good. Undo and claim are single
UPDATE statements, so they cannot interleave on one row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, Select, and_, cast, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.types import Text

from guardstream.audit.review_tables import (
    ReviewAccountRow,
    ReviewActionRow,
    ReviewExplanationRow,
    ReviewLabelRow,
    ReviewLeaseRow,
    ReviewLoginNonceRow,
    ReviewSessionRow,
)
from guardstream.audit.tables import AnalysisRow, VerdictRow
from guardstream.errors import RetriableError
from guardstream.records import Feedback, FeedbackLabel

FLAGGED_LABELS = ("unsafe", "review")
"""Verdict labels that need a person: the review queue holds exactly these."""

FEEDBACK_NAMESPACE = uuid.UUID("6f1d3a52-9c1e-4b8e-9a59-2d3c4e5f6a7b")


def feedback_id(event_id: str, revision: int) -> str:
    """The id of the ``revision``-th label of an event: the same inputs always give the same id."""
    return str(uuid.uuid5(FEEDBACK_NAMESPACE, f"{event_id}\x00{revision}"))


class LabelOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    ALREADY_LABELLED = "already_labelled"
    STALE_REVISION = "stale_revision"
    LEASED_BY_OTHER = "leased_by_other"
    NOT_FLAGGED = "not_flagged"


@dataclass(frozen=True, slots=True)
class AccountRecord:
    username: str
    password_hash: str
    role: str
    active: bool
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class SessionInfo:
    username: str
    role: str
    csrf_token: str
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class QueueFilters:
    """What the queue shows; ``None`` means no restriction."""

    model_label: str | None = None
    category: str | None = None
    model_version: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    status: str = "pending"  # pending | labelled | all
    order: str = "oldest"  # oldest | risk


@dataclass(frozen=True, slots=True)
class LabelInfo:
    feedback_id: str
    event_id: str
    revision: int
    reviewer: str
    label: str
    category: str | None
    note: str | None
    labelled_at_ms: int
    retracted_at_ms: int | None
    claimed_at_ms: int | None
    published_at_ms: int | None


@dataclass(frozen=True, slots=True)
class QueueItem:
    verdict: dict[str, Any]
    lease_holder: str | None
    lease_expires_at_ms: int | None
    label: LabelInfo | None
    next_revision: int


@dataclass(frozen=True, slots=True)
class UndoOutcome:
    label: LabelInfo
    already_sent: bool
    """True when the relay had claimed the label: it is (or will be) on the topic regardless."""


@dataclass(frozen=True, slots=True)
class LabelledFeedback:
    """A human label with the text it judges: what the training job's stage 2 reads."""

    feedback: Feedback
    role: str
    question: str | None
    text: str
    context: tuple[str, ...]
    p_unsafe: float
    published: bool

    def guard_pair(self) -> tuple[str, str]:
        """The (question, response) pair as the guard model sees it (see ChatEvent.guard_pair)."""
        if self.role == "user":
            return self.text, ""
        return self.question or "", self.text


class ReviewStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    # accounts and sessions -------------------------------------------------------------------

    def create_account(self, username: str, password_hash: str, role: str, created_by: str | None, now_ms: int) -> bool:
        """Add an account; False when the username is taken."""
        row = {
            "username": username,
            "password_hash": password_hash,
            "role": role,
            "active": True,
            "created_at_ms": now_ms,
            "created_by": created_by,
        }
        with self._session() as session:
            statement = self._insert(ReviewAccountRow).values(row).on_conflict_do_nothing()
            return session.execute(statement.returning(ReviewAccountRow.username)).first() is not None

    def account(self, username: str) -> AccountRecord | None:
        with self._session() as session:
            row = session.get(ReviewAccountRow, username)
            return None if row is None else _account(row)

    def accounts(self) -> list[AccountRecord]:
        with self._session() as session:
            return [_account(r) for r in session.scalars(select(ReviewAccountRow).order_by(ReviewAccountRow.username))]

    def set_password_hash(self, username: str, password_hash: str) -> None:
        with self._session() as session:
            session.execute(
                update(ReviewAccountRow)
                .where(ReviewAccountRow.username == username)
                .values(password_hash=password_hash)
            )

    def create_session(
        self, session_hash: str, username: str, csrf_token: str, now_ms: int, expires_at_ms: int
    ) -> None:
        with self._session() as session:
            session.execute(delete(ReviewSessionRow).where(ReviewSessionRow.expires_at_ms < now_ms))
            session.add(
                ReviewSessionRow(
                    session_hash=session_hash,
                    username=username,
                    csrf_token=csrf_token,
                    created_at_ms=now_ms,
                    expires_at_ms=expires_at_ms,
                )
            )

    def session_info(self, session_hash: str, now_ms: int) -> SessionInfo | None:
        """The live session with this hash whose account is still active, if any."""
        query = (
            select(ReviewSessionRow, ReviewAccountRow.role)
            .join(ReviewAccountRow, ReviewAccountRow.username == ReviewSessionRow.username)
            .where(
                ReviewSessionRow.session_hash == session_hash,
                ReviewSessionRow.expires_at_ms > now_ms,
                ReviewAccountRow.active.is_(True),
            )
        )
        with self._session() as session:
            found = session.execute(query).first()
            if found is None:
                return None
            row, role = found
            return SessionInfo(row.username, role, row.csrf_token, row.expires_at_ms)

    def use_login_nonce(self, nonce_hash: str, now_ms: int, expires_at_ms: int) -> bool:
        """Mark a login form's nonce used; False when it was used before (a replayed form).

        Remembered until ``expires_at_ms``, past which the form's own signature has expired.
        """
        row = {"nonce_hash": nonce_hash, "used_at_ms": now_ms, "expires_at_ms": expires_at_ms}
        with self._session() as session:
            session.execute(delete(ReviewLoginNonceRow).where(ReviewLoginNonceRow.expires_at_ms < now_ms))
            statement = self._insert(ReviewLoginNonceRow).values(row).on_conflict_do_nothing()
            return session.execute(statement.returning(ReviewLoginNonceRow.nonce_hash)).first() is not None

    def delete_session(self, session_hash: str) -> None:
        with self._session() as session:
            session.execute(delete(ReviewSessionRow).where(ReviewSessionRow.session_hash == session_hash))

    # the queue --------------------------------------------------------------------------------

    def queue(self, filters: QueueFilters, now_ms: int, limit: int = 50, offset: int = 0) -> list[QueueItem]:
        query = _queue_query(filters, now_ms).limit(limit).offset(offset)
        with self._session() as session:
            rows = session.execute(query).all()
            ids = [verdict.event_id for verdict, _, _ in rows]
            labels = _latest_labels(session, ids)
            revisions = _next_revisions(session, ids)
            return [
                QueueItem(_as_dict(v), holder, expires, labels.get(v.event_id), revisions.get(v.event_id, 1))
                for v, holder, expires in rows
            ]

    def queue_count(self, filters: QueueFilters, now_ms: int) -> int:
        query = _queue_query(filters, now_ms).with_only_columns(func.count()).order_by(None)
        with self._session() as session:
            return session.scalar(query) or 0

    def item(self, event_id: str, now_ms: int) -> QueueItem | None:
        query = _with_leases(select(VerdictRow), now_ms).where(VerdictRow.event_id == event_id)
        with self._session() as session:
            found = session.execute(query).first()
            if found is None:
                return None
            verdict, holder, expires = found
            label = _latest_labels(session, [event_id]).get(event_id)
            return QueueItem(
                _as_dict(verdict), holder, expires, label, _next_revisions(session, [event_id]).get(event_id, 1)
            )

    def conversation(self, conversation_id: str, around_ms: int, limit: int = 6) -> list[dict[str, Any]]:
        """Moderated messages of the same conversation just before and after ``around_ms``."""
        base = select(VerdictRow).where(VerdictRow.conversation_id == conversation_id)
        with self._session() as session:
            before = session.scalars(
                base.where(VerdictRow.event_created_at_ms <= around_ms)
                .order_by(VerdictRow.event_created_at_ms.desc(), VerdictRow.event_id.desc())
                .limit(limit + 1)
            ).all()
            after = session.scalars(
                base.where(VerdictRow.event_created_at_ms > around_ms)
                .order_by(VerdictRow.event_created_at_ms, VerdictRow.event_id)
                .limit(limit)
            ).all()
            return [_as_dict(row) for row in [*reversed(before), *after]]

    def model_versions(self) -> list[str]:
        query = select(VerdictRow.model_version).where(VerdictRow.label.in_(FLAGGED_LABELS)).distinct()
        with self._session() as session:
            return sorted(session.scalars(query))

    def claim(self, event_id: str, reviewer: str, now_ms: int, lease_ms: int) -> str | None:
        """Take or renew the lease on an item; returns who holds it afterwards (None: no item)."""
        statement = self._insert(ReviewLeaseRow).values(
            event_id=event_id, reviewer=reviewer, expires_at_ms=now_ms + lease_ms
        )
        statement = statement.on_conflict_do_update(
            index_elements=[ReviewLeaseRow.event_id],
            set_={"reviewer": reviewer, "expires_at_ms": now_ms + lease_ms},
            where=or_(ReviewLeaseRow.reviewer == reviewer, ReviewLeaseRow.expires_at_ms <= now_ms),
        )
        with self._session() as session:
            if session.get(VerdictRow, event_id) is None:
                return None
            session.execute(statement)
            return session.scalar(select(ReviewLeaseRow.reviewer).where(ReviewLeaseRow.event_id == event_id))

    def release(self, event_id: str, reviewer: str) -> None:
        with self._session() as session:
            session.execute(
                delete(ReviewLeaseRow).where(ReviewLeaseRow.event_id == event_id, ReviewLeaseRow.reviewer == reviewer)
            )

    def claim_next(
        self, filters: QueueFilters, reviewer: str, now_ms: int, lease_ms: int, exclude: Iterable[str] = ()
    ) -> str | None:
        """Lease the first pending item (in the filter's order) that nobody else holds."""
        pending = QueueFilters(**{**_fields(filters), "status": "pending"})
        query = _queue_query(pending, now_ms).where(
            or_(ReviewLeaseRow.reviewer.is_(None), ReviewLeaseRow.reviewer == reviewer)
        )
        excluded = set(exclude)
        if excluded:
            query = query.where(VerdictRow.event_id.not_in(excluded))
        with self._session() as session:
            candidates: list[str] = [verdict.event_id for verdict, _, _ in session.execute(query.limit(20)).all()]
        for event_id in candidates:
            if self.claim(event_id, reviewer, now_ms, lease_ms) == reviewer:
                return event_id
        return None

    # labels ---------------------------------------------------------------------------------

    def record_label(
        self,
        event_id: str,
        revision: int,
        reviewer: str,
        label: FeedbackLabel,
        category: str | None,
        note: str | None,
        now_ms: int,
        ip: str | None = None,
    ) -> LabelOutcome:
        """Store a reviewer's label once, with its trail entry, in one transaction."""
        fid = feedback_id(event_id, revision)
        try:
            with self._session() as session:
                verdict = session.get(VerdictRow, event_id)
                if verdict is None or verdict.label not in FLAGGED_LABELS:
                    return LabelOutcome.NOT_FLAGGED
                existing = session.get(ReviewLabelRow, fid)
                if existing is not None:
                    return _repeat_outcome(existing, reviewer, label, category, note)
                if _latest_labels(session, [event_id]).get(event_id) is not None:
                    return LabelOutcome.ALREADY_LABELLED
                if revision != _next_revisions(session, [event_id]).get(event_id, 1):
                    return LabelOutcome.STALE_REVISION
                lease = session.get(ReviewLeaseRow, event_id)
                if lease is not None and lease.reviewer != reviewer and lease.expires_at_ms > now_ms:
                    return LabelOutcome.LEASED_BY_OTHER
                session.add(
                    ReviewLabelRow(
                        feedback_id=fid,
                        event_id=event_id,
                        revision=revision,
                        reviewer=reviewer,
                        label=label.value,
                        category=category,
                        note=note,
                        model_label=verdict.label,
                        model_version=verdict.model_version,
                        labelled_at_ms=now_ms,
                    )
                )
                session.flush()
                session.execute(delete(ReviewLeaseRow).where(ReviewLeaseRow.event_id == event_id))
                session.add(
                    _action(
                        reviewer,
                        "label",
                        now_ms,
                        event_id,
                        ip,
                        {
                            "feedback_id": fid,
                            "revision": revision,
                            "label": label.value,
                            "category": category,
                            "note": note,
                            "model_label": verdict.label,
                        },
                    )
                )
                return LabelOutcome.RECORDED
        except IntegrityError:
            with self._session() as session:
                existing = session.get(ReviewLabelRow, fid)
                if existing is not None:
                    return _repeat_outcome(existing, reviewer, label, category, note)
            return LabelOutcome.ALREADY_LABELLED

    def undo_last(self, reviewer: str, now_ms: int, ip: str | None = None) -> UndoOutcome | None:
        """Retract the reviewer's newest label that is still in force (None: nothing to undo)."""
        latest = (
            select(ReviewLabelRow.feedback_id)
            .where(ReviewLabelRow.reviewer == reviewer, ReviewLabelRow.retracted_at_ms.is_(None))
            .order_by(ReviewLabelRow.labelled_at_ms.desc(), ReviewLabelRow.revision.desc())
            .limit(1)
            .scalar_subquery()
        )
        statement = (
            update(ReviewLabelRow)
            .where(ReviewLabelRow.feedback_id == latest, ReviewLabelRow.retracted_at_ms.is_(None))
            .values(retracted_at_ms=now_ms)
            .returning(*ReviewLabelRow.__table__.columns)
        )
        with self._session() as session:
            found = session.execute(statement).first()
            if found is None:
                return None
            info = LabelInfo(**{key: getattr(found, key) for key in LabelInfo.__slots__})
            sent = info.claimed_at_ms is not None
            session.add(
                _action(
                    reviewer,
                    "undo",
                    now_ms,
                    info.event_id,
                    ip,
                    {
                        "feedback_id": info.feedback_id,
                        "already_sent": sent,
                    },
                )
            )
            return UndoOutcome(info, sent)

    def labels_since(self, since_ms: int) -> list[dict[str, Any]]:
        """Labels in force given since ``since_ms``, with the verdict's categories (for charts)."""
        query = (
            select(ReviewLabelRow, VerdictRow.categories)
            .join(VerdictRow, VerdictRow.event_id == ReviewLabelRow.event_id)
            .where(ReviewLabelRow.labelled_at_ms >= since_ms, ReviewLabelRow.retracted_at_ms.is_(None))
        )
        with self._session() as session:
            return [{**_as_dict(label), "model_categories": categories} for label, categories in session.execute(query)]

    # the feedback outbox ----------------------------------------------------------------------

    def claim_outbox(self, cutoff_ms: int, now_ms: int, limit: int = 500) -> int:
        """Commit to sending labels given at or before ``cutoff_ms`` and not retracted."""
        ready = (
            select(ReviewLabelRow.feedback_id)
            .where(
                ReviewLabelRow.claimed_at_ms.is_(None),
                ReviewLabelRow.retracted_at_ms.is_(None),
                ReviewLabelRow.labelled_at_ms <= cutoff_ms,
            )
            .order_by(ReviewLabelRow.labelled_at_ms)
            .limit(limit)
        )
        statement = (
            update(ReviewLabelRow)
            .where(
                ReviewLabelRow.feedback_id.in_(ready.scalar_subquery()),
                ReviewLabelRow.claimed_at_ms.is_(None),
                ReviewLabelRow.retracted_at_ms.is_(None),
            )
            .values(claimed_at_ms=now_ms)
            .execution_options(synchronize_session=False)
        )
        with self._session() as session:
            result = session.execute(statement)
            assert isinstance(result, CursorResult)  # what an UPDATE gives
            return result.rowcount or 0

    def claimed_unpublished(self, limit: int = 500) -> list[Feedback]:
        """Claimed labels whose Kafka transaction is not known to be committed, oldest first."""
        query = (
            select(ReviewLabelRow)
            .where(ReviewLabelRow.claimed_at_ms.is_not(None), ReviewLabelRow.published_at_ms.is_(None))
            .order_by(ReviewLabelRow.labelled_at_ms, ReviewLabelRow.feedback_id)
            .limit(limit)
        )
        with self._session() as session:
            return [_feedback(row) for row in session.scalars(query)]

    def oldest_unpublished_claim_ms(self) -> int | None:
        query = select(func.min(ReviewLabelRow.claimed_at_ms)).where(
            ReviewLabelRow.claimed_at_ms.is_not(None), ReviewLabelRow.published_at_ms.is_(None)
        )
        with self._session() as session:
            return session.scalar(query)

    def mark_published(self, feedback_ids: Sequence[str], now_ms: int) -> None:
        if not feedback_ids:
            return
        with self._session() as session:
            session.execute(
                update(ReviewLabelRow)
                .where(ReviewLabelRow.feedback_id.in_(list(feedback_ids)), ReviewLabelRow.published_at_ms.is_(None))
                .values(published_at_ms=now_ms)
            )

    def labelled_feedback(self, since_ms: int = 0, *, only_published: bool = True) -> list[LabelledFeedback]:
        """The newest label in force per event, given since ``since_ms``, with the judged text.

        By default only labels already on ``moderation.feedback`` (past the undo window), so
        training sees exactly what the topic carries. Oldest first.
        """
        conditions = [ReviewLabelRow.retracted_at_ms.is_(None), ReviewLabelRow.labelled_at_ms >= since_ms]
        if only_published:
            conditions.append(ReviewLabelRow.published_at_ms.is_not(None))
        query = (
            select(ReviewLabelRow, VerdictRow)
            .join(VerdictRow, VerdictRow.event_id == ReviewLabelRow.event_id)
            .where(*conditions)
            .order_by(ReviewLabelRow.labelled_at_ms, ReviewLabelRow.revision)
        )
        newest: dict[str, LabelledFeedback] = {}
        with self._session() as session:
            for label, verdict in session.execute(query):
                newest[label.event_id] = LabelledFeedback(
                    feedback=_feedback(label),
                    role=verdict.role,
                    question=verdict.question,
                    text=verdict.text,
                    context=tuple(verdict.context or ()),
                    p_unsafe=verdict.p_unsafe,
                    published=label.published_at_ms is not None,
                )
        return sorted(newest.values(), key=lambda item: item.feedback.labelled_at_ms)

    # explanations and the trail ---------------------------------------------------------------

    def analysis(self, event_id: str) -> dict[str, Any] | None:
        """The analysis explain mode made after the verdict (the analysis loop's), if it is there yet."""
        with self._session() as session:
            row = session.get(AnalysisRow, event_id)
            return None if row is None else _as_dict(row)

    def explanation(self, event_id: str) -> str | None:
        """An analysis a reviewer asked for, if any."""
        with self._session() as session:
            row = session.get(ReviewExplanationRow, event_id)
            return None if row is None else row.analysis

    def save_explanation(self, event_id: str, analysis: str, requested_by: str, now_ms: int) -> None:
        row = {"event_id": event_id, "analysis": analysis, "requested_by": requested_by, "created_at_ms": now_ms}
        with self._session() as session:
            session.execute(self._insert(ReviewExplanationRow).values(row).on_conflict_do_nothing())

    def record_action(
        self,
        actor: str,
        action: str,
        now_ms: int,
        event_id: str | None = None,
        ip: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self._session() as session:
            session.add(_action(actor, action, now_ms, event_id, ip, detail or {}))

    def actions(self, limit: int = 200, actor: str | None = None, action: str | None = None) -> list[dict[str, Any]]:
        query = select(ReviewActionRow).order_by(ReviewActionRow.action_id.desc()).limit(limit)
        if actor is not None:
            query = query.where(ReviewActionRow.actor == actor)
        if action is not None:
            query = query.where(ReviewActionRow.action == action)
        with self._session() as session:
            return [_as_dict(row) for row in session.scalars(query)]

    def skipped_by(self, reviewer: str, since_ms: int) -> set[str]:
        query = select(ReviewActionRow.event_id).where(
            ReviewActionRow.actor == reviewer, ReviewActionRow.action == "skip", ReviewActionRow.at_ms >= since_ms
        )
        with self._session() as session:
            return {event_id for event_id in session.scalars(query) if event_id}

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                yield session
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, IntegrityError):
                raise
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise RetriableError(f"audit store unavailable: {exc.orig!r}") from exc
            raise


def _with_leases(query: Select[Any], now_ms: int) -> Select[Any]:
    return query.add_columns(ReviewLeaseRow.reviewer, ReviewLeaseRow.expires_at_ms).outerjoin(
        ReviewLeaseRow, and_(ReviewLeaseRow.event_id == VerdictRow.event_id, ReviewLeaseRow.expires_at_ms > now_ms)
    )


def _queue_query(filters: QueueFilters, now_ms: int) -> Select[Any]:
    query = _with_leases(select(VerdictRow), now_ms)
    labels = [filters.model_label] if filters.model_label in FLAGGED_LABELS else list(FLAGGED_LABELS)
    query = query.where(VerdictRow.label.in_(labels))
    in_force = select(ReviewLabelRow.event_id).where(ReviewLabelRow.retracted_at_ms.is_(None))
    if filters.status == "pending":
        query = query.where(VerdictRow.event_id.not_in(in_force))
    elif filters.status == "labelled":
        query = query.where(VerdictRow.event_id.in_(in_force))
    if filters.category:
        # categories is a JSON list written by SQLAlchemy's json.dumps: match its exact spelling.
        query = query.where(cast(VerdictRow.categories, Text).like(f'%"category": "{_like_safe(filters.category)}"%'))
    if filters.model_version:
        query = query.where(VerdictRow.model_version == filters.model_version)
    if filters.since_ms is not None:
        query = query.where(VerdictRow.verdict_at_ms >= filters.since_ms)
    if filters.until_ms is not None:
        query = query.where(VerdictRow.verdict_at_ms < filters.until_ms)
    if filters.order == "risk":
        return query.order_by(VerdictRow.p_unsafe.desc(), VerdictRow.verdict_at_ms, VerdictRow.event_id)
    return query.order_by(VerdictRow.verdict_at_ms, VerdictRow.event_id)


def _like_safe(value: str) -> str:
    return "".join(ch for ch in value if ch.isalnum() or ch == "_")


def _repeat_outcome(
    row: ReviewLabelRow, reviewer: str, label: FeedbackLabel, category: str | None, note: str | None
) -> LabelOutcome:
    """A label posted with a revision already used: the same form sent again is a duplicate (it is
    stored); any other label was not stored, and the reviewer must be told so."""
    if row.retracted_at_ms is not None:
        return LabelOutcome.STALE_REVISION
    if (row.reviewer, row.label, row.category, row.note) == (reviewer, label.value, category, note):
        return LabelOutcome.DUPLICATE
    return LabelOutcome.ALREADY_LABELLED


def _latest_labels(session: Session, event_ids: Sequence[str]) -> dict[str, LabelInfo]:
    if not event_ids:
        return {}
    query = (
        select(ReviewLabelRow)
        .where(ReviewLabelRow.event_id.in_(list(event_ids)), ReviewLabelRow.retracted_at_ms.is_(None))
        .order_by(ReviewLabelRow.revision)
    )
    return {
        row.event_id: LabelInfo(**{k: getattr(row, k) for k in LabelInfo.__slots__}) for row in session.scalars(query)
    }


def _next_revisions(session: Session, event_ids: Sequence[str]) -> dict[str, int]:
    if not event_ids:
        return {}
    query = (
        select(ReviewLabelRow.event_id, func.max(ReviewLabelRow.revision))
        .where(ReviewLabelRow.event_id.in_(list(event_ids)))
        .group_by(ReviewLabelRow.event_id)
    )
    return {event_id: int(top) + 1 for event_id, top in session.execute(query)}


def _feedback(row: ReviewLabelRow) -> Feedback:
    return Feedback(
        feedback_id=row.feedback_id,
        event_id=row.event_id,
        reviewer=row.reviewer,
        label=FeedbackLabel(row.label),
        category=row.category,
        note=row.note,
        model_label=row.model_label,
        model_version=row.model_version,
        labelled_at_ms=row.labelled_at_ms,
    )


def _account(row: ReviewAccountRow) -> AccountRecord:
    return AccountRecord(row.username, row.password_hash, row.role, bool(row.active), row.created_at_ms)


def _action(
    actor: str, action: str, now_ms: int, event_id: str | None, ip: str | None, detail: dict[str, Any]
) -> ReviewActionRow:
    return ReviewActionRow(at_ms=now_ms, actor=actor[:64], action=action, event_id=event_id, detail=detail, ip=ip)


def _fields(filters: QueueFilters) -> dict[str, Any]:
    return {name: getattr(filters, name) for name in QueueFilters.__slots__}


def _as_dict(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}
