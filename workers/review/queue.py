"""The review queue: flagged verdicts waiting for a person, the leases that keep two reviewers off
one item, and the labels they give.

Labels are written once: ``feedback_id`` is derived from (event_id, revision) and (event_id,
revision) is unique, so a form submitted twice, or two reviewers racing for one item, store one
label; only the same label sent again counts as stored, any other loser is told it was not. The
label row is also the outbox of ``moderation.feedback`` (:mod:`guardstream.audit.feedback_outbox`):
an undo retracts a label with one UPDATE, so it cannot interleave with the relay's claim of the row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, Select, and_, cast, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.types import Text

from guardstream.audit.feedback_outbox import feedback_id
from guardstream.audit.review_db import dialect_insert, transaction
from guardstream.audit.review_tables import ReviewLabelRow, ReviewLeaseRow
from guardstream.audit.tables import VerdictRevisionRow, VerdictRow, row_dict
from guardstream.policy import FLAGGED_LABELS
from guardstream.records import FeedbackLabel
from workers.review.trail import action_row

"""Verdict labels that need a person: the review queue holds exactly these."""


class LabelOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    ALREADY_LABELLED = "already_labelled"
    STALE_REVISION = "stale_revision"
    LEASED_BY_OTHER = "leased_by_other"
    NOT_FLAGGED = "not_flagged"


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


class ReviewQueue:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    # items and leases -------------------------------------------------------------------------

    def items(self, filters: QueueFilters, now_ms: int, limit: int = 50, offset: int = 0) -> list[QueueItem]:
        query = _queue_query(filters, now_ms).limit(limit).offset(offset)
        with transaction(self._engine) as session:
            rows = session.execute(query).all()
            ids = [verdict.event_id for verdict, _, _ in rows]
            labels = _latest_labels(session, ids)
            revisions = _next_revisions(session, ids)
            return [
                QueueItem(row_dict(v), holder, expires, labels.get(v.event_id), revisions.get(v.event_id, 1))
                for v, holder, expires in rows
            ]

    def count(self, filters: QueueFilters, now_ms: int) -> int:
        query = _queue_query(filters, now_ms).with_only_columns(func.count()).order_by(None)
        with transaction(self._engine) as session:
            return session.scalar(query) or 0

    def item(self, event_id: str, now_ms: int) -> QueueItem | None:
        query = _with_leases(select(VerdictRow), now_ms).where(VerdictRow.event_id == event_id)
        with transaction(self._engine) as session:
            found = session.execute(query).first()
            if found is None:
                return None
            verdict, holder, expires = found
            label = _latest_labels(session, [event_id]).get(event_id)
            return QueueItem(
                row_dict(verdict), holder, expires, label, _next_revisions(session, [event_id]).get(event_id, 1)
            )

    def conversation(self, conversation_id: str, around_ms: int, limit: int = 6) -> list[dict[str, Any]]:
        """Moderated messages of the same conversation just before and after ``around_ms``."""
        base = select(VerdictRow).where(VerdictRow.conversation_id == conversation_id)
        with transaction(self._engine) as session:
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
            return [row_dict(row) for row in [*reversed(before), *after]]

    def revision(self, event_id: str) -> dict[str, Any] | None:
        """The latest revision of the event's verdict (the model's, after a fallback verdict), if any."""
        query = (
            select(VerdictRevisionRow)
            .where(VerdictRevisionRow.event_id == event_id)
            .order_by(VerdictRevisionRow.revision.desc())
            .limit(1)
        )
        with transaction(self._engine) as session:
            row = session.scalars(query).first()
            return None if row is None else row_dict(row)

    def model_versions(self) -> list[str]:
        query = select(VerdictRow.model_version).where(VerdictRow.label.in_(FLAGGED_LABELS)).distinct()
        with transaction(self._engine) as session:
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
        with transaction(self._engine) as session:
            if session.get(VerdictRow, event_id) is None:
                return None
            session.execute(statement)
            return session.scalar(select(ReviewLeaseRow.reviewer).where(ReviewLeaseRow.event_id == event_id))

    def release(self, event_id: str, reviewer: str) -> None:
        with transaction(self._engine) as session:
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
        with transaction(self._engine) as session:
            candidates: list[str] = [verdict.event_id for verdict, _, _ in session.execute(query.limit(20)).all()]
        for event_id in candidates:
            if self.claim(event_id, reviewer, now_ms, lease_ms) == reviewer:
                return event_id
        return None

    # labels -----------------------------------------------------------------------------------

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
            with transaction(self._engine) as session:
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
                    action_row(
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
            with transaction(self._engine) as session:
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
        with transaction(self._engine) as session:
            found = session.execute(statement).first()
            if found is None:
                return None
            info = _label_info(found)
            sent = info.claimed_at_ms is not None
            session.add(
                action_row(
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
        with transaction(self._engine) as session:
            return [{**row_dict(label), "model_categories": categories} for label, categories in session.execute(query)]


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
    return {row.event_id: _label_info(row) for row in session.scalars(query)}


def _next_revisions(session: Session, event_ids: Sequence[str]) -> dict[str, int]:
    if not event_ids:
        return {}
    query = (
        select(ReviewLabelRow.event_id, func.max(ReviewLabelRow.revision))
        .where(ReviewLabelRow.event_id.in_(list(event_ids)))
        .group_by(ReviewLabelRow.event_id)
    )
    return {event_id: int(top) + 1 for event_id, top in session.execute(query)}


def _fields(filters: QueueFilters) -> dict[str, Any]:
    return {name: getattr(filters, name) for name in QueueFilters.__slots__}


def _label_info(row: Any) -> LabelInfo:
    """A label row (or the columns an UPDATE returned of one) as LabelInfo."""
    return LabelInfo(**{key: getattr(row, key) for key in LabelInfo.__slots__})
