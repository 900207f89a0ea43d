"""The demo table's analysis figures count each flagged event once and show duplicates apart."""

from __future__ import annotations

from devtools.demo.summary import analysis_rows
from guardstream.records import Analysis, AnalysisStatus


def analysis(event_id: str, status: AnalysisStatus, lag_ms: int) -> Analysis:
    return Analysis(
        event_id=event_id, conversation_id="c", user_id="u", verdict_label="unsafe", status=status,
        model_name="guard_explain", model_version="1", verdict_at_ms=1_000, analysed_at_ms=1_000 + lag_ms,
        explain_ms=5.0, source_topic="moderation.flagged", source_partition=0, source_offset=0,
    )  # fmt: skip


def test_rows_count_analysed_events_statuses_duplicates_and_lag() -> None:
    analyses = [
        analysis("a", AnalysisStatus.EXPLAINED, 100),
        analysis("a", AnalysisStatus.EXPLAINED, 100),
        analysis("b", AnalysisStatus.UNAVAILABLE, 300),
    ]
    assert dict(analysis_rows({"a", "b", "c"}, analyses)) == {
        "analyses of flagged verdicts": "2 of 3",
        "analyses explained / unavailable": "1 / 1",
        "duplicate analyses": "1",
        "p50 verdict→analysis ms": "100.0",
        "p99 verdict→analysis ms": "300.0",
    }
