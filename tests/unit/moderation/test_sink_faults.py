"""The transactional sink under Kafka failures, with a scripted producer: what is retried, aborted,
rebuilt or fatal. Each case was seen (or is possible) during a broker restart or a fencing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from confluent_kafka import KafkaError, KafkaException

from guardstream.errors import RetriableError
from guardstream.settings import TopicSettings
from workers.moderation.outputs import BatchOutputs
from workers.moderation.sink import TransactionalSink
from workers.transactions import ProducerFencedError, SinkFailedError

RETRIABLE = KafkaException(KafkaError(KafkaError._TIMED_OUT, "timed out, retry call", retriable=True))
ABORTABLE = KafkaException(KafkaError(KafkaError._STATE, "transaction requires abort", txn_requires_abort=True))
FENCED = KafkaException(KafkaError(KafkaError._FENCED, "producer fenced", fatal=True))


@dataclass
class ScriptedProducer:
    """Each transactional call pops its next scripted outcome: an exception, a blocker, or success."""

    script: dict[str, list[object]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        steps = self.script.get(name)
        if steps:
            step = steps.pop(0)
            if isinstance(step, threading.Event):
                step.wait(10)
            elif isinstance(step, BaseException):
                raise step

    def init_transactions(self, timeout: float) -> None:
        self._call("init_transactions")

    def begin_transaction(self) -> None:
        self._call("begin_transaction")

    def send_offsets_to_transaction(self, offsets: object, metadata: object, timeout: float) -> None:
        self._call("send_offsets_to_transaction")

    def commit_transaction(self, timeout: float) -> None:
        self._call("commit_transaction")

    def abort_transaction(self, timeout: float) -> None:
        self._call("abort_transaction")

    def produce(self, *args: object, **kwargs: object) -> None:
        self.calls.append("produce")

    def poll(self, timeout: float) -> int:
        return 0


class FakeConsumer:
    def consumer_group_metadata(self) -> object:
        return object()


class FakeAudit:
    def __init__(self) -> None:
        self.writes = 0

    def write(self, verdicts: object, dead: object) -> None:
        self.writes += 1


def sink(producer: ScriptedProducer, rebuild: Callable[[], ScriptedProducer] | None = None) -> TransactionalSink:
    return TransactionalSink(
        producer,  # type: ignore[arg-type]
        FakeConsumer(),  # type: ignore[arg-type]
        FakeAudit(),  # type: ignore[arg-type]
        TopicSettings(),
        lambda record, topic: b"",
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
