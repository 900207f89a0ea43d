"""The feedback outbox against the real broker: a relay that dies at the worst moments neither
loses nor duplicates a label for read_committed readers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.feedback_outbox import FeedbackOutbox
from guardstream.audit.store import AuditStore
from guardstream.records import Feedback, FeedbackLabel
from guardstream.serde.codec import decode_record, encode_record
from guardstream.settings import Settings
from tests.support.audit_records import event_and_verdict
from tests.support.topic_reading import read_values
from workers.kafka_clients import build_reader, build_transactional_producer
from workers.review.queue import ReviewQueue
from workers.review.relay import FeedbackRelay, kafka_scan

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


class Crash(BaseException):
    """The process dies here: nothing after this line runs, not even an abort."""


class CrashBeforeCommit:
    def __init__(self, producer: Any) -> None:
        self._producer = producer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    def commit_transaction(self, timeout: float) -> None:
        self._producer.flush(10)  # the records are on the broker, inside the open transaction
        raise Crash()


class CrashAfterCommit(FeedbackOutbox):
    crash = True

    def mark_published(self, feedback_ids: Sequence[str], now_ms: int) -> None:
        if self.crash:
            raise Crash()
        super().mark_published(feedback_ids, now_ms)


def read_all(settings: Settings, topic: str, isolation: str) -> list[str]:
    return [decode_record(Feedback, value).feedback_id for value in read_values(settings, topic, isolation)]


def make_relay(settings: Settings, outbox: FeedbackOutbox, topic: str, txn_id: str, wrap: Any = None) -> FeedbackRelay:
    def producer() -> Any:
        built = build_transactional_producer(settings.kafka, txn_id)
        return wrap(built) if wrap else built

    def reader() -> Any:
        return build_reader(settings.kafka, f"scan-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True})

    return FeedbackRelay(
        outbox,
        producer,
        kafka_scan(reader, topic, lambda value: decode_record(Feedback, value)),
        topic,
        encode_record,
        undo_window_ms=0,
    )


def seeded_outbox(tmp_path: Any, count: int) -> CrashAfterCommit:
    """An outbox holding ``count`` labels (of event-0 onwards)."""
    engine = build_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine)
    AuditStore(engine).write([event_and_verdict(i) for i in range(count)], [])
    queue = ReviewQueue(engine)
    for i in range(count):
        queue.record_label(f"event-{i}", 1, "alice", FeedbackLabel.UNSAFE, None, None, 1_000 + i)
    return CrashAfterCommit(engine)


def test_crash_between_kafka_commit_and_database_mark_duplicates_nothing(
    stack_settings: Settings, feedback_topic: str, tmp_path: Any
) -> None:
    outbox = seeded_outbox(tmp_path, 5)
    txn = f"relay-{uuid.uuid4().hex[:8]}"
    with pytest.raises(Crash):
        make_relay(stack_settings, outbox, feedback_topic, txn).run_once()
    outbox.crash = False
    assert len(outbox.claimed_unpublished()) == 5  # sent, but the database does not know
    restarted = make_relay(stack_settings, outbox, feedback_topic, txn)
    assert restarted.run_once() == 0  # recovery found all five on the topic
    assert outbox.claimed_unpublished() == []
    committed = read_all(stack_settings, feedback_topic, "read_committed")
    assert len(committed) == 5 and len(set(committed)) == 5


def test_crash_inside_the_open_transaction_loses_nothing(
    stack_settings: Settings, feedback_topic: str, tmp_path: Any
) -> None:
    outbox = seeded_outbox(tmp_path, 4)
    outbox.crash = False
    txn = f"relay-{uuid.uuid4().hex[:8]}"
    with pytest.raises(Crash):
        make_relay(stack_settings, outbox, feedback_topic, txn, wrap=CrashBeforeCommit).run_once()
    restarted = make_relay(stack_settings, outbox, feedback_topic, txn)  # fences and aborts the dead one
    assert restarted.run_once() == 4
    committed = read_all(stack_settings, feedback_topic, "read_committed")
    assert len(committed) == 4 and len(set(committed)) == 4
    assert len(read_all(stack_settings, feedback_topic, "read_uncommitted")) == 8  # the aborted attempt was real
    assert len(outbox.labelled_feedback(0)) == 4
