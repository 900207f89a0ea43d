"""The analyses shown beside an item: the analysis loop's, made after the verdict, and those a
reviewer asked explain mode for (kept, so the model is asked once per item)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from guardstream.audit.review_db import dialect_insert, transaction
from guardstream.audit.review_tables import ReviewExplanationRow
from guardstream.audit.tables import AnalysisRow, row_dict


class AnalysisStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    def analysis(self, event_id: str) -> dict[str, Any] | None:
        """The analysis explain mode made after the verdict (the analysis loop's), if it is there yet."""
        with transaction(self._engine) as session:
            row = session.get(AnalysisRow, event_id)
            return None if row is None else row_dict(row)

    def explanation(self, event_id: str) -> str | None:
        """An analysis a reviewer asked for, if any."""
        with transaction(self._engine) as session:
            row = session.get(ReviewExplanationRow, event_id)
            return None if row is None else row.analysis

    def save_explanation(self, event_id: str, analysis: str, requested_by: str, now_ms: int) -> None:
        row = {"event_id": event_id, "analysis": analysis, "requested_by": requested_by, "created_at_ms": now_ms}
        with transaction(self._engine) as session:
            session.execute(self._insert(ReviewExplanationRow).values(row).on_conflict_do_nothing())
