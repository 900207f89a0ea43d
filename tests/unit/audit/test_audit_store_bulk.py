"""The audit store's bulk write path keeps every column, on both dialects."""

from __future__ import annotations

import dataclasses
import math

import pytest

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.store import AuditStore
from guardstream.records import CategoryScore
from tests.support.audit_records import event_and_verdict
from tests.support.stack import postgres_schema


def test_json_columns_and_nulls_round_trip(store: AuditStore) -> None:
    event, verdict = event_and_verdict(1)
    event = dataclasses.replace(event, context=("你好", 'quote " and \\ backslash'), question=None)
    verdict = dataclasses.replace(
        verdict, categories=(CategoryScore(category="隐私财产", score=0.25),), trace_id=None, analysis=None
    )
    store.write([(event, verdict)], [])
    row = store.verdict(verdict.event_id)
    assert row is not None
    assert row["context"] == ["你好", 'quote " and \\ backslash']
    assert row["categories"] == [{"category": "隐私财产", "score": 0.25}]
    assert row["question"] is None and row["trace_id"] is None
    assert row["source_offset"] == verdict.source_offset and row["event_created_at_ms"] == verdict.event_created_at_ms


def test_duplicates_inside_one_batch_keep_the_first(store: AuditStore) -> None:
    first = event_and_verdict(2, p_unsafe=0.9)
    again = event_and_verdict(2, p_unsafe=0.1)
    store.write([first, again, event_and_verdict(3)], [])
    assert store.verdict_count() == 2
    row = store.verdict("event-2")
    assert row is not None and row["p_unsafe"] == pytest.approx(0.9)


@pytest.mark.integration
def test_a_score_without_json_form_is_still_recorded_in_postgresql() -> None:
    """NaN has no JSON form: that batch takes the ORM path (SQLite stores NaN as NULL, refused)."""
    with postgres_schema() as url:
        engine = build_engine(url)
        migrate(engine)
        store = AuditStore(engine)
        event, verdict = event_and_verdict(4)
        store.write([(event, dataclasses.replace(verdict, p_unsafe=math.nan)), event_and_verdict(5)], [])
        assert store.verdict_count() == 2
        row = store.verdict("event-4")
        assert row is not None and math.isnan(row["p_unsafe"])
        engine.dispose()
