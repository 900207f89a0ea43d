"""The analyst over a real audit store (SQLite) and a scripted explain model."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from guardstream.audit.store import AuditStore
from guardstream.errors import RetriableError
from guardstream.records import AnalysisStatus, Verdict
from tests.unit.analysis.scripted import ScriptedExplainer, verdict_json
from workers.analysis.analyst import Analyst, FlaggedSource


def sources(verdicts: list[Verdict]) -> list[tuple[FlaggedSource, Verdict]]:
    return [(FlaggedSource("moderation.flagged", 0, offset), verdict) for offset, verdict in enumerate(verdicts)]


def test_each_flagged_verdict_gets_the_analysis_of_its_own_text(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    verdicts = flagged(3)
    model = ScriptedExplainer()
    analyses = Analyst(model, audit, "guard_explain", clock_ms=lambda: 42).analyse(sources(verdicts))

    assert model.requests == [["这条消息编号 0", "这条消息编号 1", "这条消息编号 2"]]  # one request for the batch
    assert [a.event_id for a in analyses] == [v.event_id for v in verdicts]
    assert [a.analysis for a in analyses] == [f"分析：这条消息编号 {i}" for i in range(3)]
    first = analyses[0]
    assert (first.status, first.explain_label, first.category) == (
        AnalysisStatus.EXPLAINED,
        "unsafe",
        "privacy_property",
    )
    assert (first.model_name, first.model_version, first.analysed_at_ms) == ("guard_explain", "7", 42)
    assert [a.verdict_label for a in analyses] == ["unsafe", "review", "unsafe"]
    assert (first.source_topic, first.source_offset) == ("moderation.flagged", 0)


def test_a_request_the_model_rejects_is_split_until_only_the_bad_item_is_unavailable(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    verdicts = flagged(4)
    model = ScriptedExplainer(reject={"这条消息编号 2"})
    analyses = Analyst(model, audit, "guard_explain").analyse(sources(verdicts))

    assert [a.status for a in analyses] == [AnalysisStatus.EXPLAINED] * 2 + [
        AnalysisStatus.UNAVAILABLE,
        AnalysisStatus.EXPLAINED,
    ]
    assert analyses[2].analysis is None and "input too long" in (analyses[2].reason or "")
    assert len(model.requests) == 5  # all 4, halves of 2, then 2 and 3 alone


def test_an_answer_without_analysis_is_unavailable_and_says_what_the_model_wrote(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    model = ScriptedExplainer(answer=lambda q, r: '{"答案": "不安全", "答案": "不安全"')
    [analysis] = Analyst(model, audit, "guard_explain").analyse(sources(flagged(1)))
    assert analysis.status is AnalysisStatus.UNAVAILABLE and analysis.analysis is None
    assert analysis.explain_label == "unsafe"
    assert "contains no analysis" in (analysis.reason or "") and "答案" in (analysis.reason or "")


def test_triton_unavailable_is_raised_for_the_caller_to_retry(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    with pytest.raises(RetriableError):
        Analyst(ScriptedExplainer(unavailable=1), audit, "guard_explain").analyse(sources(flagged(2)))


def test_an_analysis_recorded_by_a_crashed_attempt_is_reused_not_made_again(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    verdicts = flagged(2)
    first = Analyst(ScriptedExplainer(answer=lambda q, r: verdict_json("第一次")), audit, "guard_explain").analyse(
        sources(verdicts)
    )
    audit.record_analyses(first[:1])  # the crash came after the audit write, before the Kafka commit

    model = ScriptedExplainer(answer=lambda q, r: verdict_json("第二次"))
    again = Analyst(model, audit, "guard_explain").analyse(sources(verdicts))

    assert model.requests == [["这条消息编号 1"]]
    assert again[0] == first[0]
    assert again[1].analysis == "第二次"


def test_a_verdict_missing_from_the_audit_store_gets_an_unavailable_analysis(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    import dataclasses

    stranger = dataclasses.replace(flagged(1)[0], event_id="never-recorded")
    model = ScriptedExplainer()
    [analysis] = Analyst(model, audit, "guard_explain").analyse(sources([stranger]))
    assert analysis.status is AnalysisStatus.UNAVAILABLE and "no verdict row" in (analysis.reason or "")
    assert model.requests == []
