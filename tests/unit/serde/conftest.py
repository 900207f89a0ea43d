"""Fixtures for the serde tests: sample records of every type."""

from __future__ import annotations

import pytest

from guardstream.records import (
    Action,
    Analysis,
    AnalysisStatus,
    BlocklistHit,
    CategoryScore,
    ChatEvent,
    ChatRole,
    DeadLetter,
    Decider,
    Feedback,
    FeedbackLabel,
    Verdict,
    VerdictLabel,
)


def make_event(**changes) -> ChatEvent:
    fields = dict(
        event_id="0b6f7c1e-3f4d-4c55-9a0e-2d1c7b9e8f00",
        conversation_id="conv-42",
        user_id="u000017",
        role=ChatRole.ASSISTANT,
        text="番茄炒蛋一般先炒鸡蛋，盛出后再炒番茄。",
        question="番茄炒蛋先放番茄还是先放蛋？",
        context=("在吗", "在的，请说"),
        created_at_ms=1_735_689_600_123,
        locale="zh-CN",
        metadata={"channel": "live-007", "client": "ios"},
    )
    fields.update(changes)
    return ChatEvent(**fields)


SAMPLE_RECORDS = {
    "ChatEvent": make_event(),
    "ChatEvent-minimal": ChatEvent(
        event_id="e1",
        conversation_id="c1",
        user_id="u1",
        role=ChatRole.USER,
        text="666",
        created_at_ms=0,
    ),
    "Verdict": Verdict(
        event_id="e1",
        conversation_id="c1",
        user_id="u1",
        label=VerdictLabel.UNSAFE,
        p_unsafe=0.93,
        categories=(CategoryScore(category="隐私财产", score=0.81), CategoryScore(category="违法犯罪", score=0.1)),
        analysis="回答提供了获取他人住址的方法，侵犯隐私。",
        model_name="guard",
        model_version="3",
        policy_version="2025-01",
        event_created_at_ms=1_735_689_600_000,
        verdict_at_ms=1_735_689_600_042,
        queue_ms=3.5,
        inference_ms=21.25,
        end_to_end_ms=42.0,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        source_topic="chat.events",
        source_partition=5,
        source_offset=123_456_789_012,
        policy_id="kids-rooms",
        decided_by=Decider.MODEL,
        blocklist_hits=(
            BlocklistHit(list_name="abuse", list_version=3, term="傻逼", category="hate_abuse", variant="homophone"),
        ),
    ),
    "Verdict-minimal": Verdict(
        event_id="e1",
        conversation_id="c1",
        user_id="u1",
        label=VerdictLabel.REVIEW,
        p_unsafe=0.5,
        model_name="guard",
        model_version="1",
        policy_version="p",
        event_created_at_ms=0,
        verdict_at_ms=0,
        queue_ms=0.0,
        inference_ms=0.0,
        end_to_end_ms=0.0,
        source_topic="t",
        source_partition=0,
        source_offset=0,
    ),
    "DeadLetter": DeadLetter(
        source_topic="chat.events",
        source_partition=1,
        source_offset=99,
        key=b"conv-1",
        payload=b"\xc3\x01\x00\xff",
        payload_size=4_000_000,
        payload_truncated=True,
        kind="malformed_avro",
        reason="Avro body is truncated",
        event_id=None,
        failed_at_ms=1_735_689_600_500,
        worker_id="worker-a-0",
    ),
    "Feedback": Feedback(
        feedback_id="f1",
        event_id="e1",
        reviewer="alice",
        label=FeedbackLabel.SAFE,
        category=None,
        note="误报：只是在讨论新闻",
        model_label="unsafe",
        model_version="3",
        labelled_at_ms=1_735_689_700_000,
    ),
    "Action": Action(
        action_id="a1",
        kind="mute",
        user_id="u000101",
        conversation_id=None,
        rule_id="abuse-3-in-10m",
        rule_version="1",
        window_start_ms=1_735_689_000_000,
        window_end_ms=1_735_689_600_000,
        counts={"unsafe": 3, "辱骂仇恨": 3},
        evidence_event_ids=("e1", "e2", "e3"),
        created_at_ms=1_735_689_600_001,
    ),
    "Analysis": Analysis(
        event_id="e1",
        conversation_id="c1",
        user_id="u1",
        verdict_label="unsafe",
        status=AnalysisStatus.EXPLAINED,
        analysis="回答提供了获取他人住址的方法，侵犯隐私。",
        explain_label="unsafe",
        category="privacy_property",
        model_name="guard_explain",
        model_version="3",
        verdict_at_ms=1_735_689_600_042,
        analysed_at_ms=1_735_689_601_500,
        explain_ms=812.5,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        source_topic="moderation.flagged",
        source_partition=2,
        source_offset=77,
    ),
    "Analysis-unavailable": Analysis(
        event_id="e2",
        conversation_id="c1",
        user_id="u1",
        verdict_label="review",
        status=AnalysisStatus.UNAVAILABLE,
        reason="Triton rejected the request: input too long",
        model_name="guard_explain",
        model_version="3",
        verdict_at_ms=0,
        analysed_at_ms=0,
        explain_ms=0.0,
        source_topic="t",
        source_partition=0,
        source_offset=0,
    ),
}


@pytest.fixture(params=sorted(SAMPLE_RECORDS))
def sample_record(request):
    """Each sample record in turn."""
    return SAMPLE_RECORDS[request.param]


@pytest.fixture(scope="session")
def sample_records():
    return SAMPLE_RECORDS


@pytest.fixture(scope="session", name="make_event")
def make_event_fixture():
    """Factory for ChatEvents: ``make_event(text=...)`` changes fields of a valid default."""
    return make_event
