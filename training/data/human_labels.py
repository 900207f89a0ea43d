"""Human labels from the review queue, as Libra-Test records for stage 2.

Where labels come from is a small :class:`LabelSource` protocol:

* :class:`ReviewStoreLabels`: the review app's label table joined with the verdicts table of the
  audit store (:meth:`guardstream.audit.feedback_outbox.FeedbackOutbox.labelled_feedback`);
* :class:`FeedbackJoinLabels`: :class:`~guardstream.records.Feedback` records (as read from
  ``moderation.feedback`` by the caller) joined with the verdict rows of the audit store, which
  hold the judged text;
* :class:`FileLabels`: a Libra-Test-format export (JSON, JSONL or Parquet).

The newest label per event wins. The judged pair is built as the worker builds it: a user message
is a question with an empty response, an assistant reply is judged with its question.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from guardstream.guard.categories import HarmCategory
from guardstream.records import Feedback, FeedbackLabel
from training.data.files import read_records
from training.data.records import GuardRecord, label_text

HUMAN_SOURCE = "human-feedback"


class LabelSource(Protocol):
    """Anything that yields human-labelled records."""

    def labelled_records(self) -> list[GuardRecord]: ...


def feedback_record(feedback: Feedback, role: str, question: str | None, text: str) -> GuardRecord:
    """One labelled record from a human label and the judged event's text."""
    pair = (text, "") if role == "user" else (question or "", text)
    category = ""
    if feedback.category:
        try:
            category = HarmCategory.parse(feedback.category).chinese_name
        except ValueError:
            category = ""
    unsafe = feedback.label is FeedbackLabel.UNSAFE
    return GuardRecord(
        id=f"fb-{feedback.event_id}",
        source=HUMAN_SOURCE,
        category_name=category,
        sub_category_name="",
        question=pair[0],
        response=pair[1],
        label=label_text(unsafe),
        analyze=(feedback.note or "").strip(),
    )


class ReviewStoreLabels:
    """Labels in force in the review app's store (by default only those already published)."""

    def __init__(self, engine: Any, *, since_ms: int = 0, only_published: bool = True) -> None:
        self._engine = engine
        self._since_ms = since_ms
        self._only_published = only_published

    def labelled_records(self) -> list[GuardRecord]:
        from guardstream.audit.feedback_outbox import FeedbackOutbox

        items = FeedbackOutbox(self._engine).labelled_feedback(self._since_ms, only_published=self._only_published)
        records = {i.feedback.event_id: feedback_record(i.feedback, i.role, i.question, i.text) for i in items}
        return list(records.values())


class FeedbackJoinLabels:
    """Feedback records joined with the audit store's verdict rows; unknown events are skipped."""

    def __init__(self, feedback: Sequence[Feedback], engine: Any) -> None:
        self._feedback = feedback
        self._engine = engine
        self.missing: list[str] = []

    def labelled_records(self) -> list[GuardRecord]:
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from guardstream.audit.tables import VerdictRow

        newest: dict[str, Feedback] = {}
        for item in sorted(self._feedback, key=lambda f: f.labelled_at_ms):
            newest[item.event_id] = item
        if not newest:
            return []
        with Session(self._engine) as session:
            rows = session.execute(
                select(VerdictRow.event_id, VerdictRow.role, VerdictRow.question, VerdictRow.text).where(
                    VerdictRow.event_id.in_(list(newest))
                )
            ).all()
        found = {row.event_id: row for row in rows}
        self.missing = sorted(set(newest) - set(found))
        return [
            feedback_record(item, found[event_id].role, found[event_id].question, found[event_id].text)
            for event_id, item in newest.items()
            if event_id in found
        ]


class FileLabels:
    """Labels exported to a Libra-Test-format file."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    def labelled_records(self) -> list[GuardRecord]:
        return read_records(self._path, default_source=HUMAN_SOURCE)


class MergedLabels:
    """Several sources as one: one record per id, the later source winning."""

    def __init__(self, sources: Sequence[LabelSource]) -> None:
        self._sources = list(sources)

    def labelled_records(self) -> list[GuardRecord]:
        merged: dict[str, GuardRecord] = {}
        for source in self._sources:
            for record in source.labelled_records():
                merged[record.id] = record
        return list(merged.values())
