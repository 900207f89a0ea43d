"""Records for audit-store tests, shared by the SQLite and PostgreSQL runs."""

from __future__ import annotations

from guardstream.records import ChatEvent, ChatRole, DeadLetter, Verdict, VerdictLabel


def event_and_verdict(index: int, p_unsafe: float = 0.9, latency_ms: int = 12) -> tuple[ChatEvent, Verdict]:
    event = ChatEvent(
        event_id=f"event-{index}",
        conversation_id=f"conv-{index % 3}",
        user_id=f"user-{index % 7}",
        role=ChatRole.ASSISTANT,
        text=f"这条消息编号 {index}",
        question="这个问题安全吗？",
        context=("你好",),
        created_at_ms=1_000,
    )
    verdict = Verdict(
        event_id=event.event_id,
        conversation_id=event.conversation_id,
        user_id=event.user_id,
        label=VerdictLabel.UNSAFE if p_unsafe >= 0.5 else VerdictLabel.SAFE,
        p_unsafe=p_unsafe,
        model_name="guard",
        model_version="1",
        policy_version="test-1",
        event_created_at_ms=1_000,
        verdict_at_ms=1_000 + latency_ms,
        queue_ms=1.0,
        inference_ms=2.0,
        end_to_end_ms=float(latency_ms),
        trace_id=None,
        source_topic="chat.events",
        source_partition=0,
        source_offset=index,
    )
    return event, verdict


def dead_letter(offset: int) -> DeadLetter:
    return DeadLetter(
        source_topic="chat.events",
        source_partition=1,
        source_offset=offset,
        key=None,
        payload=b"\xff\xfe",
        payload_size=2,
        payload_truncated=False,
        kind="invalid_utf8",
        reason="payload is not UTF-8",
        event_id=None,
        failed_at_ms=5,
        worker_id="w",
    )
