"""The audit store on both dialects: SQLite (the embedded default) and a real PostgreSQL.

The PostgreSQL runs need GUARDSTREAM_TEST_POSTGRES_URL (set by `make test`, which starts the
project's cluster); each test gets a schema of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.store import AuditStore
from tests.support.audit_records import dead_letter, event_and_verdict
from tests.support.stack import postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditStore]:
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'audit.db'}"
        else:
            url = stack.enter_context(postgres_schema())
        engine = build_engine(url)
        migrate(engine)
        migrate(engine)  # idempotent
        yield AuditStore(engine)
        engine.dispose()


def test_replayed_batch_changes_nothing(store: AuditStore) -> None:
    batch = [event_and_verdict(i) for i in range(5)]
    store.write(batch, [dead_letter(9)])
    store.write(batch, [dead_letter(9)])
    assert store.verdict_count() == 5
    assert store.dead_letter_count() == 1


def test_first_verdict_wins_over_a_replay_with_other_scores(store: AuditStore) -> None:
    store.write([event_and_verdict(1, p_unsafe=0.9)], [])
    store.write([event_and_verdict(1, p_unsafe=0.1)], [])
    row = store.verdict("event-1")
    assert row is not None and row["p_unsafe"] == pytest.approx(0.9)
    assert row["text"] == "这条消息编号 1" and row["label"] == "unsafe"


def test_stats_count_labels_versions_and_latency_percentiles(store: AuditStore) -> None:
    store.write([event_and_verdict(i, p_unsafe=0.9 if i < 3 else 0.1, latency_ms=i) for i in range(100)], [])
    stats = store.stats()
    assert stats.total == 100
    assert stats.by_label == {"unsafe": 3, "safe": 97}
    assert stats.by_model_version == {"1": 100}
    assert stats.end_to_end_ms == {"p50": 49.0, "p95": 94.0, "p99": 98.0}


def test_missing_event_is_none(store: AuditStore) -> None:
    assert store.verdict("nope") is None


def test_the_first_analysis_of_an_event_wins_over_a_replay(store: AuditStore) -> None:
    from guardstream.records import Analysis, AnalysisStatus

    def analysis(text: str) -> Analysis:
        return Analysis(
            event_id="event-1", conversation_id="conv-1", user_id="user-1", verdict_label="unsafe",
            status=AnalysisStatus.EXPLAINED, analysis=text, explain_label="unsafe", model_name="guard_explain",
            model_version="1", verdict_at_ms=1, analysed_at_ms=2, explain_ms=3.0, source_topic="moderation.flagged",
            source_partition=0, source_offset=0,
        )  # fmt: skip

    store.write([event_and_verdict(1)], [])
    store.record_analyses([analysis("第一次")])
    store.record_analyses([analysis("第二次")])
    assert store.analyses(["event-1", "event-2"]) == {
        "event-1": {
            "event_id": "event-1", "status": "explained", "analysis": "第一次", "explain_label": "unsafe",
            "category": None, "reason": None, "model_name": "guard_explain", "model_version": "1",
            "analysed_at_ms": 2, "explain_ms": 3.0,
        }
    }  # fmt: skip
    row = store.verdict("event-1")
    assert row is not None and row["analysis"] is None  # the verdict row stays as it was decided


def test_judged_events_are_the_recorded_events_of_the_verdicts(store: AuditStore) -> None:
    event, verdict = event_and_verdict(4)
    store.write([(event, verdict)], [])
    assert store.judged_events(["event-4", "event-5"]) == {"event-4": event}
