"""The trail: one row per reviewer action (logins, failures, labels, undo, skips, admin)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from guardstream.audit.review_db import transaction
from guardstream.audit.review_tables import ReviewActionRow
from guardstream.audit.tables import row_dict


def action_row(
    actor: str, action: str, now_ms: int, event_id: str | None, ip: str | None, detail: dict[str, Any]
) -> ReviewActionRow:
    """A trail entry, for a write that records its action in its own transaction."""
    return ReviewActionRow(at_ms=now_ms, actor=actor[:64], action=action, event_id=event_id, detail=detail, ip=ip)


class ReviewTrail:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record_action(
        self,
        actor: str,
        action: str,
        now_ms: int,
        event_id: str | None = None,
        ip: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with transaction(self._engine) as session:
            session.add(action_row(actor, action, now_ms, event_id, ip, detail or {}))

    def actions(self, limit: int = 200, actor: str | None = None, action: str | None = None) -> list[dict[str, Any]]:
        """The newest actions first."""
        query = select(ReviewActionRow).order_by(ReviewActionRow.action_id.desc()).limit(limit)
        if actor is not None:
            query = query.where(ReviewActionRow.actor == actor)
        if action is not None:
            query = query.where(ReviewActionRow.action == action)
        with transaction(self._engine) as session:
            return [row_dict(row) for row in session.scalars(query)]

    def skipped_by(self, reviewer: str, since_ms: int) -> set[str]:
        """The items the reviewer skipped since ``since_ms``: the queue passes them over for now."""
        query = select(ReviewActionRow.event_id).where(
            ReviewActionRow.actor == reviewer, ReviewActionRow.action == "skip", ReviewActionRow.at_ms >= since_ms
        )
        with transaction(self._engine) as session:
            return {event_id for event_id in session.scalars(query) if event_id}
