"""What the audit store keeps, column by column, and what it reads back: verdicts on the bulk path and
on the ORM path (a non-finite float), dead letters, duplicates in order, counts and latency
percentiles. On SQLite and a real PostgreSQL."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from guardstream.audit.duplicates import Duplicate
from guardstream.audit.store import AuditStats, AuditStore
from guardstream.audit.tables import DeadLetterRow
from guardstream.records import (
    Analysis,
    AnalysisStatus,
    BlocklistHit,
    CategoryScore,
    ChatEvent,
    ChatRole,
    Decider,
    Verdict,
    VerdictLabel,
)
from tests.support.audit_records import dead_letter, event_and_verdict


def full_verdict(end_to_end_ms: float) -> tuple[ChatEvent, Verdict]:
    """A verdict whose every column holds a value of its own."""
    event = ChatEvent(
        event_id="evt-full",
        conversation_id="conv-full",
        user_id="user-full",
        role=ChatRole.USER,
        text="我想知道怎么做",
        question="上一个问题",
        context=("第一句", "second"),
        created_at_ms=1_700_000_000_123,
    )
    verdict = Verdict(
        event_id=event.event_id,
        conversation_id=event.conversation_id,
        user_id=event.user_id,
        label=VerdictLabel.UNSAFE,
        p_unsafe=0.625,
        categories=(CategoryScore(category="暴力", score=0.75), CategoryScore(category="privacy", score=0.125)),
        analysis="the reason",
        model_name="guard-x",
        model_version="7",
        policy_version="policy-3",
        event_created_at_ms=1_700_000_000_123,
        verdict_at_ms=1_700_000_000_456,
        queue_ms=1.5,
        inference_ms=2.25,
        end_to_end_ms=end_to_end_ms,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        source_topic="chat.events.eu",
        source_partition=3,
        source_offset=4_000_000_000,
        policy_id="kids-rooms",
        decided_by=Decider.BLOCKLIST,
        blocklist_hits=(
            BlocklistHit(list_name="abuse", list_version=2, term="傻逼", category="hate_abuse", variant="pinyin"),
        ),
    )
    return event, verdict


def stored_row(end_to_end_ms: float) -> dict[str, Any]:
    return {
        "event_id": "evt-full", "conversation_id": "conv-full", "user_id": "user-full", "role": "user",
        "question": "上一个问题", "text": "我想知道怎么做", "context": ["第一句", "second"], "label": "unsafe",
        "p_unsafe": 0.625, "categories": [{"category": "暴力", "score": 0.75}, {"category": "privacy", "score": 0.125}],
        "analysis": "the reason", "model_name": "guard-x", "model_version": "7", "policy_version": "policy-3",
        "event_created_at_ms": 1_700_000_000_123, "verdict_at_ms": 1_700_000_000_456, "queue_ms": 1.5,
        "inference_ms": 2.25, "end_to_end_ms": end_to_end_ms, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "source_topic": "chat.events.eu", "source_partition": 3, "source_offset": 4_000_000_000,
        "policy_id": "kids-rooms", "decided_by": "blocklist", "blocklist_hits": [
            {"list_name": "abuse", "list_version": 2, "term": "傻逼", "category": "hate_abuse", "variant": "pinyin"}
        ],
    }  # fmt: skip


@pytest.mark.parametrize("end_to_end_ms", [4.75, math.inf], ids=["finite", "infinite-takes-the-orm-path-on-postgresql"])
def test_every_column_of_a_verdict_is_stored_as_written(store: AuditStore, end_to_end_ms: float) -> None:
    event, verdict = full_verdict(end_to_end_ms)
    assert store.write([(event, verdict)], []) == []
    assert store.verdict("evt-full") == stored_row(end_to_end_ms)
    assert store.judged_events(["evt-full"]) == {"evt-full": event}
    assert store.write([(event, verdict)], []) == []  # a replay from the same position owns its verdict


def test_a_verdict_without_categories_stores_an_empty_list(store: AuditStore) -> None:
    event, verdict = event_and_verdict(1)
    store.write([(event, verdict)], [])
    row = store.verdict("event-1")
    assert row is not None and row["categories"] == [] and row["context"] == ["你好"]


def test_sqlite_keeps_the_json_columns_as_readable_utf8_text(sqlite_engine: Engine) -> None:
    audit_engine = sqlite_engine  # PostgreSQL keeps JSON in its own form
    event, verdict = full_verdict(4.75)
    AuditStore(audit_engine).write([(event, verdict)], [])
    with audit_engine.connect() as connection:
        context, categories = connection.execute(text("SELECT context, categories FROM verdicts")).one()
    assert context == '["第一句", "second"]'
    assert categories == '[{"category": "暴力", "score": 0.75}, {"category": "privacy", "score": 0.125}]'


@pytest.mark.integration
def test_a_nan_latency_is_recorded_on_postgresql_through_the_orm_path(postgresql_engine: Engine) -> None:
    audit_engine = postgresql_engine  # SQLite stores NaN as NULL (see the refusal tests)
    store = AuditStore(audit_engine)
    first, nan = event_and_verdict(1), event_and_verdict(2)
    nan = (nan[0], dataclasses.replace(nan[1], queue_ms=math.nan))
    assert store.write([nan, first], []) == []
    row = store.verdict("event-2")
    assert row is not None and math.isnan(row["queue_ms"]) and row["source_offset"] == 2
    assert store.verdict_count() == 2
    # the ORM path reports no owners: they are read back, so a copy from elsewhere is still a duplicate
    copy = (nan[0], dataclasses.replace(nan[1], source_partition=5, verdict_at_ms=9))
    assert store.write([copy], []) == [Duplicate("event-2", ("chat.events", 5, 2), ("chat.events", 0, 2), 9)]


def test_every_column_of_a_dead_letter_is_stored_and_a_write_of_dead_letters_only_returns_no_duplicates(
    store: AuditStore, audit_engine: Engine
) -> None:
    letter = dataclasses.replace(dead_letter(12), event_id="evt-9", worker_id="worker-3")
    assert store.write([], [letter, dead_letter(13)]) == []
    assert store.write([], [letter]) == []  # a replay adds nothing
    with audit_engine.connect() as connection:
        rows = connection.execute(select(DeadLetterRow.__table__).order_by(DeadLetterRow.source_offset)).mappings()
        stored = [dict(row) for row in rows]
    assert stored[0] == {
        "source_topic": "chat.events", "source_partition": 1, "source_offset": 12, "kind": "invalid_utf8",
        "reason": "payload is not UTF-8", "event_id": "evt-9", "payload_size": 2, "failed_at_ms": 5,
        "worker_id": "worker-3",
    }  # fmt: skip
    assert [row["source_offset"] for row in stored] == [12, 13]
    assert (store.verdict_count(), store.dead_letter_count(), store.duplicate_count()) == (0, 2, 0)


def test_an_empty_store_counts_zero_everywhere(store: AuditStore) -> None:
    assert (store.verdict_count(), store.dead_letter_count(), store.duplicate_count()) == (0, 0, 0)
    assert store.stats() == AuditStats(0, {}, {}, {}, {}, {})
    assert store.write([], []) == []
    assert store.judged_events([]) == {} and store.analyses([]) == {}
    store.record_analyses([])
    assert store.analyses(["event-1"]) == {}


@pytest.mark.parametrize(
    ("count", "percentiles"),
    [
        (1, {"p50": 0.0, "p95": 0.0, "p99": 0.0}),
        (2, {"p50": 0.0, "p95": 1.0, "p99": 1.0}),
        (101, {"p50": 50.0, "p95": 95.0, "p99": 99.0}),  # nearest rank: ceil(p * n / 100)
    ],
)
def test_stats_count_by_label_version_and_dead_letter_kind_with_nearest_rank_percentiles(
    store: AuditStore, count: int, percentiles: dict[str, float]
) -> None:
    batch = []
    for index in range(count):
        event, verdict = event_and_verdict(index, p_unsafe=0.9 if index == 0 else 0.1, latency_ms=count - 1 - index)
        batch.append((event, dataclasses.replace(verdict, inference_ms=2.0 * index, model_version=f"v{index % 2}")))
    other_kind = dataclasses.replace(dead_letter(2), kind="empty_text")
    store.write(batch, [dead_letter(1), other_kind, dataclasses.replace(other_kind, source_offset=3)])
    stats = store.stats()
    assert stats.total == count
    assert stats.by_label == ({"unsafe": 1} if count == 1 else {"unsafe": 1, "safe": count - 1})
    assert stats.by_model_version == ({"v0": 1} if count == 1 else {"v0": (count + 1) // 2, "v1": count // 2})
    assert stats.dead_letters_by_kind == {"invalid_utf8": 1, "empty_text": 2}
    assert stats.end_to_end_ms == percentiles
    assert stats.inference_ms == {key: 2.0 * value for key, value in percentiles.items()}


def test_record_analysis_sets_the_analysis_of_a_recorded_verdict_only(store: AuditStore) -> None:
    store.write([event_and_verdict(1)], [])
    assert store.record_analysis("event-2", "nothing to explain") is False
    assert store.verdict("event-2") is None
    assert store.record_analysis("event-1", "它在索要隐私") is True
    row = store.verdict("event-1")
    assert row is not None and row["analysis"] == "它在索要隐私"


def test_duplicates_are_returned_in_event_id_order_whatever_the_batch_order(store: AuditStore) -> None:
    store.write([event_and_verdict(2), event_and_verdict(1)], [])
    copies = []
    for index in (2, 3, 1):
        event, verdict = event_and_verdict(index)
        copies.append((event, dataclasses.replace(verdict, source_partition=4, verdict_at_ms=50 + index)))
    assert store.write(copies, []) == [
        Duplicate("event-1", ("chat.events", 4, 1), ("chat.events", 0, 1), 51),
        Duplicate("event-2", ("chat.events", 4, 2), ("chat.events", 0, 2), 52),
    ]
    assert store.verdict_count() == 3


def test_the_duplicates_of_an_event_are_listed_by_topic_partition_and_offset_and_only_its_own(
    store: AuditStore,
) -> None:
    store.write([event_and_verdict(1), event_and_verdict(2)], [])
    copies = []
    for index, topic, partition, offset in [
        (1, "chat.events", 5, 3), (2, "chat.events", 1, 9), (1, "chat.events", 2, 8), (1, "chat.events", 2, 4),
        (1, "chat.retry", 0, 1),
    ]:  # fmt: skip
        event, verdict = event_and_verdict(index)
        copies.append(
            (event, dataclasses.replace(verdict, source_topic=topic, source_partition=partition, source_offset=offset))
        )
    store.write(copies, [])
    recorded = store.duplicates("event-1")
    assert [(row["source_topic"], row["source_partition"], row["source_offset"]) for row in recorded] == [
        ("chat.events", 2, 4),
        ("chat.events", 2, 8),
        ("chat.events", 5, 3),
        ("chat.retry", 0, 1),
    ]
    assert recorded[0] == {
        "source_topic": "chat.events", "source_partition": 2, "source_offset": 4, "event_id": "event-1",
        "first_topic": "chat.events", "first_partition": 0, "first_offset": 1, "detected_at_ms": 1_012,
    }  # fmt: skip
    assert store.duplicates("event-3") == []


def test_owners_of_more_event_ids_than_one_lookup_reads_are_all_found(store: AuditStore) -> None:
    """1001 event_ids already stored: their owners are read back in three chunks of at most 500
    (past 999, so that chunk starts taken one by one instead of 500 apart would miss the last)."""
    count = 1001
    batch = [event_and_verdict(index) for index in range(count)]
    assert store.write(batch, []) == []
    assert store.write(batch, []) == []  # every one a replay: each owner found, none a duplicate
    copies = [(event, dataclasses.replace(verdict, source_partition=1)) for event, verdict in batch]
    duplicates = store.write(copies, [])
    assert len(duplicates) == count
    assert {duplicate.first for duplicate in duplicates} == {("chat.events", 0, index) for index in range(count)}
    assert store.verdict_count() == count and store.duplicate_count() == count


def test_a_batch_of_new_and_known_event_ids_finds_the_owner_of_each(store: AuditStore) -> None:
    store.write([event_and_verdict(1)], [])
    event, verdict = event_and_verdict(1)
    copy = (event, dataclasses.replace(verdict, source_offset=70, verdict_at_ms=3))
    assert store.write([event_and_verdict(2), copy, event_and_verdict(3)], []) == [
        Duplicate("event-1", ("chat.events", 0, 70), ("chat.events", 0, 1), 3)
    ]
    assert store.verdict_count() == 3


def test_every_column_of_an_analysis_is_stored(store: AuditStore) -> None:
    store.write([event_and_verdict(1)], [])
    store.record_analyses(
        [
            Analysis(
                event_id="event-1", conversation_id="conv-1", user_id="user-1", verdict_label="unsafe",
                status=AnalysisStatus.UNAVAILABLE, analysis=None, explain_label="safe", category="隐私",
                reason="explain model timed out", model_name="guard_explain", model_version="2", verdict_at_ms=1,
                analysed_at_ms=20, explain_ms=30.5, source_topic="moderation.flagged", source_partition=1,
                source_offset=6,
            )
        ]
    )  # fmt: skip
    assert store.analyses(["event-1"]) == {
        "event-1": {
            "event_id": "event-1", "status": "unavailable", "analysis": None, "explain_label": "safe",
            "category": "隐私", "reason": "explain model timed out", "model_name": "guard_explain",
            "model_version": "2", "analysed_at_ms": 20, "explain_ms": 30.5,
        }
    }  # fmt: skip
