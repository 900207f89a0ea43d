"""The outbox relay with an in-memory transactional topic: crashes neither lose nor duplicate."""

from __future__ import annotations

import pytest

from guardstream.audit.feedback_outbox import FeedbackOutbox
from guardstream.records import Feedback, FeedbackLabel
from guardstream.serde.codec import decode_record, encode_record
from tests.unit.review.conftest import Seed
from workers.review.queue import ReviewQueue
from workers.review.relay import FeedbackRelay


class Topic:
    """Committed records of a transactional topic, as a read_committed reader sees them."""

    def __init__(self) -> None:
        self.committed: list[tuple[bytes, bytes]] = []
        self.inits = 0

    def ids(self) -> list[str]:
        return [decode_record(Feedback, value).feedback_id for _, value in self.committed]


class FakeProducer:
    def __init__(self, topic: Topic, fail_commit: bool = False) -> None:
        self._topic, self._open, self._fail_commit = topic, None, fail_commit

    def init_transactions(self, timeout: float) -> None:
        self._topic.inits += 1

    def begin_transaction(self) -> None:
        self._open = []

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        self._open.append((key, value))

    def commit_transaction(self, timeout: float) -> None:
        if self._fail_commit:
            raise RuntimeError("broker went away")
        self._topic.committed.extend(self._open)
        self._open = None

    def abort_transaction(self, timeout: float) -> None:
        self._open = None

    def poll(self, timeout: float) -> int:
        return 0


class MarkFails(FeedbackOutbox):
    """The audit store goes away right after the Kafka commit (the worst moment)."""

    fail = True

    def mark_published(self, feedback_ids, now_ms):  # type: ignore[no-untyped-def]
        if self.fail:
            raise ConnectionError("database went away")
        super().mark_published(feedback_ids, now_ms)


def relay(
    outbox: FeedbackOutbox,
    topic: Topic,
    producers: list[FakeProducer] | None = None,
    window_ms: int = 0,
    now: list[int] | None = None,
) -> FeedbackRelay:
    clock = now or [10_000]
    queue = list(producers or [])
    return FeedbackRelay(
        outbox,
        lambda: queue.pop(0) if queue else FakeProducer(topic),
        lambda since_ms: set(topic.ids()),
        "feedback",
        encode_record,
        undo_window_ms=window_ms,
        clock_ms=lambda: clock[0],
    )


def label(queue: ReviewQueue, seed: Seed, at: int = 1_000, reviewer: str = "alice") -> str:
    event = seed()
    queue.record_label(event, 1, reviewer, FeedbackLabel.UNSAFE, "hate_abuse", None, at)
    return event


def test_each_label_reaches_the_topic_once(queue: ReviewQueue, outbox: FeedbackOutbox, seed: Seed) -> None:
    topic = Topic()
    events = [label(queue, seed) for _ in range(3)]
    worker = relay(outbox, topic)
    assert worker.run_once() == 3
    assert worker.run_once() == 0
    assert sorted(decode_record(Feedback, v).event_id for _, v in topic.committed) == sorted(events)
    assert len(outbox.labelled_feedback(0)) == 3


def test_labels_wait_out_the_undo_window_and_an_undo_in_it_is_never_sent(
    queue: ReviewQueue, outbox: FeedbackOutbox, seed: Seed
) -> None:
    topic, now = Topic(), [1_500]
    label(queue, seed, at=1_000)
    worker = relay(outbox, topic, window_ms=1_000, now=now)
    assert worker.run_once() == 0
    queue.undo_last("alice", 1_600)
    now[0] = 5_000
    assert worker.run_once() == 0 and topic.committed == []


def test_crash_between_kafka_commit_and_the_database_mark_sends_nothing_twice(
    engine, queue: ReviewQueue, seed: Seed
) -> None:  # type: ignore[no-untyped-def]
    topic = Topic()
    failing = MarkFails(engine)
    label(queue, seed)
    label(queue, seed)
    with pytest.raises(ConnectionError):
        relay(failing, topic).run_once()
    assert len(topic.committed) == 2
    failing.fail = False
    restarted = relay(failing, topic)  # a new process: recovery scans the topic first
    assert restarted.run_once() == 0
    assert len(topic.committed) == 2 and len(set(topic.ids())) == 2
    assert failing.claimed_unpublished() == [] and len(failing.labelled_feedback(0)) == 2


def test_the_same_relay_recovers_after_a_failed_mark_before_sending_more(
    engine, queue: ReviewQueue, seed: Seed
) -> None:  # type: ignore[no-untyped-def]
    topic = Topic()
    failing = MarkFails(engine)
    label(queue, seed)
    worker = relay(failing, topic)
    with pytest.raises(ConnectionError):
        worker.run_once()
    failing.fail = False
    label(queue, seed)
    assert worker.run_once() == 1
    assert len(topic.committed) == 2 and len(set(topic.ids())) == 2


def test_a_failed_commit_is_aborted_and_sent_again_by_a_fresh_producer(
    queue: ReviewQueue, outbox: FeedbackOutbox, seed: Seed
) -> None:
    topic = Topic()
    label(queue, seed)
    worker = relay(outbox, topic, producers=[FakeProducer(topic, fail_commit=True)])
    with pytest.raises(RuntimeError):
        worker.run_once()
    assert topic.committed == []
    assert worker.run_once() == 1
    assert len(topic.committed) == 1 and topic.inits == 2
