"""Verdicts for the escalation tests (unit and integration)."""

from __future__ import annotations

from guardstream.records import CategoryScore, Verdict, VerdictLabel

MINUTE = 60_000
T0 = 1_699_999_200_000  # a multiple of 1 hour (and so of 10 and 5 minutes): windows start here


def make_verdict(
    event_id: str,
    *,
    user: str = "u1",
    conversation: str = "c1",
    label: str = "unsafe",
    at_ms: int = T0,
    categories: dict[str, float] | None = None,
) -> Verdict:
    return Verdict(
        event_id=event_id,
        conversation_id=conversation,
        user_id=user,
        label=VerdictLabel(label),
        p_unsafe={"unsafe": 0.9, "review": 0.4, "safe": 0.05}[label],
        categories=tuple(CategoryScore(category=c, score=s) for c, s in (categories or {}).items()),
        model_name="guard",
        model_version="1",
        policy_version="default-1",
        event_created_at_ms=at_ms,
        verdict_at_ms=at_ms + 50,
        queue_ms=1.0,
        inference_ms=5.0,
        end_to_end_ms=50.0,
        source_topic="chat.events",
        source_partition=0,
        source_offset=0,
    )


RULES_YAML = """
version: "test-1"
grace: 1m
rules:
  - id: repeat-unsafe
    type: count
    scope: user
    labels: [unsafe]
    window: {type: tumbling, size: 10m}
    threshold: 3
    action: {kind: mute, duration: 1h}
  - id: crime
    type: category
    scope: user
    labels: [unsafe]
    categories: [illegal_activities]
    min_category_score: 0.5
    window: {type: tumbling, size: 1h}
    action: {kind: escalate}
  - id: review-rate
    type: rate
    scope: conversation
    labels: [review]
    window: {type: hopping, size: 10m, step: 5m}
    min_events: 3
    min_ratio: 0.5
    action: {kind: flag_conversation}
"""
