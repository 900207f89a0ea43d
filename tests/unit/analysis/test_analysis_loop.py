"""The analysis loop with in-memory Kafka and Triton stand-ins over a real audit store (SQLite)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, KafkaError, KafkaException, TopicPartition

from guardstream.audit.store import AuditStore
from guardstream.records import Analysis, AnalysisStatus, DeadLetter, Verdict
from guardstream.serde.codec import AvroDecoder, AvroEncoder, encode_record
from guardstream.settings import AnalysisSettings, TopicSettings
from tests.support.kafka_fakes import FakeGroupConsumer, FakeMessage, ScriptedProducer
from tests.support.worker_fakes import CommittedOffset
from tests.unit.analysis.scripted import ScriptedExplainer
from workers.analysis.analyst import Analyst
from workers.analysis.loop import AnalysisLoop, LoopIdentity
from workers.analysis.sink import AnalysisSink
from workers.retry import Backoff
from workers.transactions import KafkaTransactions

TOPICS = TopicSettings()
ABORTABLE = KafkaException(KafkaError(KafkaError._STATE, "transaction requires abort", txn_requires_abort=True))


@dataclass
class ScriptedConsumer:
    """Hands out its script in order: messages, or actions run at that point of the stream."""

    script: list[FakeMessage | Callable[[ScriptedConsumer], None]]
    partitions: list[int] = field(default_factory=lambda: [0])
    when_idle: Callable[[], None] = lambda: None
    paused_ever: bool = False
    paused: set[int] = field(default_factory=set)
    callbacks: dict[str, Callable] = field(default_factory=dict)
    committed_offsets: dict[int, int] = field(default_factory=dict)
    unstable_lookups: int = 0
    """How many committed-offset lookups answer UNSTABLE_OFFSET_COMMIT (a killed member's open transaction)."""
    lookups: int = 0
    starts: dict[int, int] = field(default_factory=dict)

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[CommittedOffset]:
        self.lookups += 1
        error = KafkaError(KafkaError.UNSTABLE_OFFSET_COMMIT) if self.lookups <= self.unstable_lookups else None
        return [
            CommittedOffset(tp.topic, tp.partition, self.committed_offsets.get(tp.partition, OFFSET_INVALID), error)
            for tp in partitions
        ]

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        self.starts.update((tp.partition, tp.offset) for tp in partitions)

    def subscribe(self, topics: list[str], **callbacks: Callable) -> None:
        self.callbacks = callbacks
        callbacks["on_assign"](self, [TopicPartition(TOPICS.flagged, p) for p in self.partitions])

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        taken: list[FakeMessage] = []
        while self.script and len(taken) < num_messages:
            head = self.script[0]
            if not isinstance(head, FakeMessage):
                if taken:
                    break
                self.script.pop(0)(self)
                continue
            if head.partition() in self.paused:
                break
            taken.append(self.script.pop(0))
        if not taken and not self.script:
            time.sleep(min(timeout, 0.005))
            self.when_idle()
        return taken

    def revoke(self, partition: int) -> None:
        self.callbacks["on_revoke"](self, [TopicPartition(TOPICS.flagged, partition)])

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {tp.partition for tp in partitions}
        self.paused_ever = True

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {tp.partition for tp in partitions}

    def close(self) -> None:
        pass


def flagged_messages(verdicts: list[Verdict], partition: int = 0) -> list[FakeMessage]:
    return [
        FakeMessage(encode_record(v), offset, _partition=partition, _topic=TOPICS.flagged)
        for offset, v in enumerate(verdicts)
    ]


def run_loop(
    consumer: ScriptedConsumer,
    audit: AuditStore,
    model: ScriptedExplainer,
    producer: ScriptedProducer,
    yield_to_verdicts: Callable[[], bool] = lambda: False,
    idle_polls: int = 20,
    **settings: object,
) -> AnalysisLoop:
    """Run the loop until the consumer has been idle for ``idle_polls`` polls (about 5 ms each)."""
    decoder = AvroDecoder()
    loop = AnalysisLoop(
        AnalysisSettings(**{"batch_max_size": 2, "batch_max_wait_ms": 1.0, "drain_timeout_s": 5.0, **settings}),
        TOPICS.flagged,
        consumer,  # type: ignore[arg-type]
        Analyst(model, audit, "guard_explain"),
        AnalysisSink(
            KafkaTransactions(producer, FakeGroupConsumer(), sleep=lambda _s: None),  # type: ignore[arg-type]
            audit,
            TOPICS,
            AvroEncoder().encode,
        ),
        lambda payload: decoder.decode(Verdict, payload),
        LoopIdentity("worker-a", 1024),
        Backoff(0.001, 0.002),
        yield_to_verdicts=yield_to_verdicts,
    )
    idle = iter(range(1_000_000))
    consumer.when_idle = lambda: loop.stop() if next(idle) > idle_polls else None
    loop.run()
    return loop


def committed(producer: ScriptedProducer, topic: str) -> list[bytes]:
    return [value for transaction in producer.committed for name, _, value in transaction.records if name == topic]


def test_every_flagged_verdict_gets_one_analysis_committed_with_its_offset(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    verdicts = flagged(5)
    producer = ScriptedProducer()
    loop = run_loop(ScriptedConsumer(list(flagged_messages(verdicts))), audit, ScriptedExplainer(), producer)

    analyses = [AvroDecoder().decode(Analysis, value) for value in committed(producer, TOPICS.analyses)]
    assert sorted(a.event_id for a in analyses) == sorted(v.event_id for v in verdicts)
    assert [len(t.records) for t in producer.committed] == [2, 2, 1]  # batches of batch_max_size
    assert producer.committed[-1].offsets == {(TOPICS.flagged, 0): 5}
    assert set(audit.analyses([v.event_id for v in verdicts])) == {v.event_id for v in verdicts}
    assert loop.counts["explained"] == 5 and loop.counts["commits"] == 3


def test_while_triton_is_down_the_batch_waits_with_its_partitions_paused_then_commits_once(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    verdicts = flagged(4)
    consumer = ScriptedConsumer(list(flagged_messages(verdicts)))
    producer = ScriptedProducer()
    model = ScriptedExplainer(unavailable=3)
    loop = run_loop(consumer, audit, model, producer)

    assert consumer.paused_ever and not consumer.paused
    values = committed(producer, TOPICS.analyses)
    assert len(values) == len(set(values)) == 4
    assert loop.counts["retries"] == 3


def test_a_failed_kafka_commit_is_retried_without_asking_the_model_again(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    verdicts = flagged(2)
    producer = ScriptedProducer({"send_offsets_to_transaction": [ABORTABLE]})
    model = ScriptedExplainer()
    run_loop(ScriptedConsumer(list(flagged_messages(verdicts))), audit, model, producer)

    assert len(model.requests) == 1
    assert "abort_transaction" in producer.calls
    assert len(committed(producer, TOPICS.analyses)) == 2


def test_a_flagged_record_that_is_no_verdict_goes_to_the_dlq_and_its_offset_moves_on(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    [verdict] = flagged(1)
    messages = [FakeMessage(b"\xc3\x01garbage", 0, _topic=TOPICS.flagged), *flagged_messages([verdict])[:1]]
    messages[1]._offset = 1
    producer = ScriptedProducer()
    run_loop(ScriptedConsumer(messages), audit, ScriptedExplainer(), producer)

    [letter] = [AvroDecoder().decode(DeadLetter, value) for value in committed(producer, TOPICS.dlq)]
    assert (letter.source_topic, letter.source_offset, letter.worker_id) == (TOPICS.flagged, 0, "worker-a")
    assert "not a Verdict" in letter.reason
    assert len(committed(producer, TOPICS.analyses)) == 1
    assert producer.committed[-1].offsets == {(TOPICS.flagged, 0): 2}


def test_records_of_a_revoked_partition_are_left_uncommitted_for_their_new_owner(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    verdicts = flagged(2)
    consumer = ScriptedConsumer(
        [
            flagged_messages(verdicts[:1], partition=0)[0],
            flagged_messages(verdicts[1:], partition=1)[0],
            lambda c: c.revoke(1),
        ],
        partitions=[0, 1],
    )
    producer = ScriptedProducer()
    run_loop(consumer, audit, ScriptedExplainer(), producer, batch_max_size=4, batch_max_wait_ms=60_000.0)

    [analysis] = [AvroDecoder().decode(Analysis, value) for value in committed(producer, TOPICS.analyses)]
    assert analysis.event_id == verdicts[0].event_id and analysis.status is AnalysisStatus.EXPLAINED
    assert producer.committed[-1].offsets == {(TOPICS.flagged, 0): 1}


def test_stopping_finishes_the_batch_at_hand(audit: AuditStore, flagged: Callable[[int], list[Verdict]]) -> None:
    verdicts = flagged(1)
    producer = ScriptedProducer()
    run_loop(
        ScriptedConsumer(flagged_messages(verdicts)), audit, ScriptedExplainer(), producer, batch_max_wait_ms=60_000.0
    )
    assert len(committed(producer, TOPICS.analyses)) == 1


def test_explain_requests_wait_while_the_verdict_path_is_behind(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    verdicts = flagged(2)
    model = ScriptedExplainer()
    behind = iter([True, True, True])
    asked_while_behind: list[int] = []

    def yield_to_verdicts() -> bool:
        waiting = next(behind, False)
        if waiting:
            asked_while_behind.append(len(model.requests))
        return waiting

    producer = ScriptedProducer()
    consumer = ScriptedConsumer(flagged_messages(verdicts))
    loop = run_loop(consumer, audit, model, producer, yield_to_verdicts=yield_to_verdicts, idle_polls=400)

    assert asked_while_behind == [0, 0, 0]  # no explain request went out while the verdict path was behind
    assert loop.counts["yields"] == 3 and consumer.paused_ever
    assert len(committed(producer, TOPICS.analyses)) == 2


def test_an_assigned_partition_starts_at_its_committed_offset_once_the_coordinator_can_tell_it(
    audit: AuditStore, flagged: Callable[[int], list[Verdict]]
) -> None:
    """A killed member's open transaction makes the lookup unstable for a while: the loop asks again
    rather than start at the beginning (which would explain committed records a second time)."""
    consumer = ScriptedConsumer([], partitions=[0, 1], committed_offsets={0: 3}, unstable_lookups=2)
    run_loop(consumer, audit, ScriptedExplainer(), ScriptedProducer())
    assert consumer.lookups == 3
    assert consumer.starts == {0: 3, 1: OFFSET_BEGINNING}
