"""The outbox of ``moderation.feedback``: the review app's label rows, read as Feedback records.

A label row is written once by the review queue (``feedback_id`` is derived from (event_id,
revision), which is unique). The relay claims rows (``claimed_at_ms``) once they are past the undo
window, sends them in a Kafka transaction and then marks them published. An undo that reaches a row
before it is claimed keeps it off the topic for good: undo and claim are single UPDATE statements,
so they cannot interleave on one row. The training job reads the labels in force, by default only
those already published, so it sees exactly what the topic carries.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func, select, update
from sqlalchemy.engine import CursorResult

from guardstream.audit.review_db import transaction
from guardstream.audit.review_tables import ReviewLabelRow
from guardstream.audit.tables import VerdictRow
from guardstream.records import Feedback, FeedbackLabel, guard_pair

FEEDBACK_NAMESPACE = uuid.UUID("6f1d3a52-9c1e-4b8e-9a59-2d3c4e5f6a7b")


def feedback_id(event_id: str, revision: int) -> str:
    """The id of the ``revision``-th label of an event: the same inputs always give the same id."""
    return str(uuid.uuid5(FEEDBACK_NAMESPACE, f"{event_id}\x00{revision}"))


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
        """The (question, response) pair as the guard model sees it."""
        return guard_pair(self.role, self.question, self.text)


class FeedbackOutbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, cutoff_ms: int, now_ms: int, limit: int = 500) -> int:
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
        with transaction(self._engine) as session:
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
        with transaction(self._engine) as session:
            return [_feedback(row) for row in session.scalars(query)]

    def oldest_unpublished_claim_ms(self) -> int | None:
        query = select(func.min(ReviewLabelRow.claimed_at_ms)).where(
            ReviewLabelRow.claimed_at_ms.is_not(None), ReviewLabelRow.published_at_ms.is_(None)
        )
        with transaction(self._engine) as session:
            return session.scalar(query)

    def mark_published(self, feedback_ids: Sequence[str], now_ms: int) -> None:
        if not feedback_ids:
            return
        with transaction(self._engine) as session:
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
        with transaction(self._engine) as session:
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
