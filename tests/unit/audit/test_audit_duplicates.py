"""An event_id judged from one source position is a duplicate when read at any other: within one
write, in a later write, on another partition. A replay from the same position is not. On SQLite
and a real PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from guardstream.audit.duplicates import Duplicate, find_duplicates
from guardstream.audit.store import AuditStore
from guardstream.records import ChatEvent, Verdict
from tests.support.audit_records import event_and_verdict


def copy_of(index: int, partition: int, offset: int, p_unsafe: float = 0.1) -> tuple[ChatEvent, Verdict]:
    """Event ``index`` read again at (partition, offset), judged with another score."""
    event, verdict = event_and_verdict(index, p_unsafe=p_unsafe)
    return event, dataclasses.replace(verdict, source_partition=partition, source_offset=offset, verdict_at_ms=77)


def test_a_copy_read_at_another_position_later_is_a_duplicate_and_the_first_verdict_stands(store: AuditStore) -> None:
    assert store.write([event_and_verdict(1, p_unsafe=0.9), event_and_verdict(2)], []) == []

    duplicates = store.write([copy_of(1, partition=3, offset=40), event_and_verdict(5)], [])

    assert duplicates == [Duplicate("event-1", ("chat.events", 3, 40), ("chat.events", 0, 1), 77)]
    row = store.verdict("event-1")
    assert row is not None and row["p_unsafe"] == pytest.approx(0.9) and row["source_offset"] == 1
    assert store.verdict_count() == 3
    recorded = store.duplicates("event-1")
    assert [(r["source_partition"], r["source_offset"], r["first_partition"], r["first_offset"]) for r in recorded] == [
        (3, 40, 0, 1)
    ]


def test_copies_inside_one_write_keep_the_first_read_and_the_rest_are_duplicates(store: AuditStore) -> None:
    duplicates = store.write([event_and_verdict(7, p_unsafe=0.9), copy_of(7, 0, 8), copy_of(7, 2, 3)], [])

    assert [d.position for d in duplicates] == [("chat.events", 0, 8), ("chat.events", 2, 3)]
    assert {d.first for d in duplicates} == {("chat.events", 0, 7)}
    assert store.verdict_count() == 1 and store.duplicate_count() == 2


def test_a_replay_from_the_same_positions_re_finds_the_same_owner_and_duplicates_and_adds_no_row(
    store: AuditStore,
) -> None:
    batch = [copy_of(3, 1, 10), event_and_verdict(4), copy_of(3, 1, 11)]
    first = store.write(batch, [])
    again = store.write(batch, [])  # the Kafka transaction failed after the audit write: processed again

    assert first == again == [Duplicate("event-3", ("chat.events", 1, 11), ("chat.events", 1, 10), 77)]
    assert store.verdict_count() == 2 and store.duplicate_count() == 1


def test_the_owner_replayed_alone_after_its_copy_was_recorded_is_no_duplicate(store: AuditStore) -> None:
    store.write([event_and_verdict(6)], [])
    store.write([copy_of(6, 4, 2)], [])
    assert store.write([event_and_verdict(6)], []) == []
    assert store.duplicate_count() == 1


def test_owners_decide_by_the_whole_position() -> None:
    _, verdict = event_and_verdict(1)
    other_topic = dataclasses.replace(verdict, source_topic="other")
    owners = {"event-1": ("chat.events", 0, 1)}
    assert find_duplicates([verdict], owners) == []
    assert [d.position for d in find_duplicates([other_topic], owners)] == [("other", 0, 1)]
