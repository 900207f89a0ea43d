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

    def write(self, verdicts: object, dead: object) -> list[object]:
        self.writes += 1
        return []


def sink(producer: ScriptedProducer, rebuild: Callable[[], ScriptedProducer] | None = None) -> TransactionalSink:
    return TransactionalSink(
        producer,  # type: ignore[arg-type]
        FakeGroupConsumer(),  # type: ignore[arg-type]
        FakeAudit(),  # type: ignore[arg-type]
        TopicSettings(),
        lambda record, topic: b"",
        stamp=OutputStamp("guard", Policy("p", 0.5, 0.35), "w1", 1024),
        retry_timeout_s=5.0,
        rebuild=rebuild,  # type: ignore[arg-type]
        call_timeout_s=0.2,
        call_grace_s=0.1,
        sleep=lambda _s: None,
    )


POSITIONS = {("chat.events", 0): 5}


def test_an_abort_that_fails_while_the_broker_restarts_is_retried() -> None:
    producer = ScriptedProducer({"send_offsets_to_transaction": [ABORTABLE], "abort_transaction": [RETRIABLE, RETRIABLE]})
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


def test_a_stuck_commit_stops_the_worker_since_its_outcome_is_unknown() -> None:
    release = threading.Event()
    stuck = ScriptedProducer({"commit_transaction": [release]})
    sink_ = sink(stuck, rebuild=ScriptedProducer)
    try:
        with pytest.raises(SinkFailedError):
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
