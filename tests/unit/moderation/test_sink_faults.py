"""The transactional sink under Kafka failures, with a scripted producer: what is retried, aborted,
rebuilt or fatal. Each case was seen (or is possible) during a broker restart or a fencing."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError, KafkaException

from guardstream.errors import RetriableError
from guardstream.policy import Policy
from guardstream.settings import TopicSettings
from tests.support.kafka_fakes import FakeGroupConsumer, ScriptedProducer
from workers.moderation.outputs import BatchOutputs, OutputStamp
from workers.moderation.sink import TransactionalSink
from workers.transactions import ProducerFencedError, SinkFailedError

RETRIABLE = KafkaException(KafkaError(KafkaError._TIMED_OUT, "timed out, retry call", retriable=True))
ABORTABLE = KafkaException(KafkaError(KafkaError._STATE, "transaction requires abort", txn_requires_abort=True))
FENCED = KafkaException(KafkaError(KafkaError._FENCED, "producer fenced", fatal=True))


class FakeAudit:
    def __init__(self) -> None:
        self.writes = 0

    def write(self, verdicts: object, dead: object, shadows: object = (), revisions: object = ()) -> list[object]:
        self.writes += 1
        return []


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def sink(
    producer: ScriptedProducer,
    rebuild: Callable[[], ScriptedProducer] | None = None,
    consumer: FakeGroupConsumer | None = None,
) -> TransactionalSink:
    time = FakeTime()
    return TransactionalSink(
        producer,  # type: ignore[arg-type]
        consumer or FakeGroupConsumer(),  # type: ignore[arg-type]
        FakeAudit(),  # type: ignore[arg-type]
        TopicSettings(),
        lambda record, topic: b"",
        stamp=OutputStamp("guard", Policy("p", 0.5, 0.35), "w1", 1024),
        retry_timeout_s=5.0,
        rebuild=rebuild,  # type: ignore[arg-type]
        call_timeout_s=0.2,
        call_grace_s=0.1,
        clock=time.clock,
        sleep=time.sleep,
    )


POSITIONS = {("chat.events", 0): 5}


def test_an_abort_that_fails_while_the_broker_restarts_is_retried() -> None:
    producer = ScriptedProducer(
        {"send_offsets_to_transaction": [ABORTABLE], "abort_transaction": [RETRIABLE, RETRIABLE]}
    )
    with pytest.raises(RetriableError):
        sink(producer).commit(BatchOutputs(), POSITIONS)
    assert producer.calls.count("abort_transaction") == 3
    # the next attempt starts a fresh transaction and commits
    sink_ = sink(ScriptedProducer())
    sink_.commit(BatchOutputs(), POSITIONS)


def test_a_commit_that_times_out_is_retried_never_replaced_by_an_abort() -> None:
    producer = ScriptedProducer({"commit_transaction": [RETRIABLE, RETRIABLE]})
    sink(producer).commit(BatchOutputs(), POSITIONS)  # no RetriableError: a retry would duplicate outputs
    assert producer.calls.count("commit_transaction") == 3
    assert "abort_transaction" not in producer.calls
    assert producer.calls.count("begin_transaction") == 1


def test_a_fenced_producer_is_a_zombie_and_never_produces_again() -> None:
    producer = ScriptedProducer({"commit_transaction": [FENCED]})
    zombie = sink(producer)
    with pytest.raises(ProducerFencedError):
        zombie.commit(BatchOutputs(), POSITIONS)
    produced = len(producer.calls)
    with pytest.raises(ProducerFencedError):
        zombie.commit(BatchOutputs(), POSITIONS)
    assert len(producer.calls) == produced
    zombie.abort_if_open()  # shutdown does not touch a fenced producer either
    assert len(producer.calls) == produced


def test_a_stuck_send_offsets_replaces_the_producer_which_then_commits() -> None:
    release = threading.Event()
    stuck = ScriptedProducer({"send_offsets_to_transaction": [release]})
    fresh = ScriptedProducer()
    sink_ = sink(stuck, rebuild=lambda: fresh)
    try:
        with pytest.raises(RetriableError):
            sink_.commit(BatchOutputs(), POSITIONS)
        assert fresh.calls == ["init_transactions"]  # the new producer fences the stuck one
        assert stuck.calls[-1] == "purge"  # what it still holds never reaches the broker late
        sink_.commit(BatchOutputs(), POSITIONS)
        assert fresh.calls[-1] == "commit_transaction"
    finally:
        release.set()


def test_a_stuck_commit_that_went_through_is_settled_by_a_new_producer_and_not_repeated() -> None:
    release = threading.Event()
    stuck, fresh = ScriptedProducer({"commit_transaction": [release]}), ScriptedProducer()
    group = FakeGroupConsumer()
    sink_ = sink(stuck, rebuild=lambda: fresh, consumer=group)
    group.committed_offsets.update(POSITIONS)  # what the coordinator finished while the call hung
    try:
        sink_.commit(BatchOutputs(), POSITIONS)  # no RetriableError: producing again would duplicate
        assert fresh.calls == ["init_transactions"]  # it waits until the old transaction is finished
        sink_.commit(BatchOutputs(), {("chat.events", 0): 9})  # the new producer carries on
        assert fresh.committed[-1].offsets == {("chat.events", 0): 9}
    finally:
        release.set()


def test_a_stuck_commit_that_was_aborted_is_produced_again_by_the_new_producer() -> None:
    release = threading.Event()
    stuck, fresh = ScriptedProducer({"commit_transaction": [release]}), ScriptedProducer()
    sink_ = sink(stuck, rebuild=lambda: fresh, consumer=FakeGroupConsumer({("chat.events", 0): 3}))
    try:
        with pytest.raises(RetriableError, match="aborted"):
            sink_.commit(BatchOutputs(), POSITIONS)
        sink_.commit(BatchOutputs(), POSITIONS)
        assert fresh.committed[-1].offsets == POSITIONS
    finally:
        release.set()


def test_a_commit_still_timing_out_when_retries_run_out_is_settled_rather_than_stopping_the_worker() -> None:
    """Seen in the broker-restart chaos scenario: commit_transaction timed out (retriable) until
    retry_timeout_s passed, and the worker stopped with its batch unacknowledged."""
    endless = ScriptedProducer({"commit_transaction": [RETRIABLE] * 1000})
    fresh = ScriptedProducer()
    group = FakeGroupConsumer()
    sink_ = sink(endless, rebuild=lambda: fresh, consumer=group)
    with pytest.raises(RetriableError, match="aborted"):
        sink_.commit(BatchOutputs(), POSITIONS)
    assert "abort_transaction" not in endless.calls  # a commit is never replaced by an abort
    assert fresh.calls == ["init_transactions"]
    sink_.commit(BatchOutputs(), POSITIONS)
    assert fresh.committed[-1].offsets == POSITIONS


def test_a_stuck_commit_without_a_way_to_rebuild_stops_the_worker_since_its_outcome_is_unknown() -> None:
    release = threading.Event()
    sink_ = sink(ScriptedProducer({"commit_transaction": [release]}))
    try:
        with pytest.raises(SinkFailedError, match="unknown"):
            sink_.commit(BatchOutputs(), POSITIONS)
    finally:
        release.set()


def test_without_a_way_to_rebuild_a_stuck_producer_stops_the_worker() -> None:
    release = threading.Event()
    sink_ = sink(ScriptedProducer({"send_offsets_to_transaction": [release]}))
    try:
        with pytest.raises(SinkFailedError):
            sink_.commit(BatchOutputs(), POSITIONS)
    finally:
        release.set()
