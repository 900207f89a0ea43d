"""The sink with a real audit store (SQLite) and a scripted transactional producer: an event read
again at another position gets no second verdict on any topic, but its offset is committed; a
batch processed again after a crash produces its verdicts again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.store import AuditStore
from guardstream.policy import Policy
from guardstream.records import ChatEvent, ChatRole
from guardstream.settings import TopicSettings
from tests.support.kafka_fakes import FakeGroupConsumer, ScriptedProducer
from workers.moderation.batch import Batch, Consumed
from workers.moderation.outputs import BatchOutputs, OutputStamp, build_outputs
from workers.moderation.sink import TransactionalSink

STAMP = OutputStamp("guard", Policy("p", 0.5, 0.35), "w1", 1024)
TOPICS = TopicSettings()


@pytest.fixture()
def audit(tmp_path: Path) -> AuditStore:
    engine = build_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine)
    return AuditStore(engine)


def read(event_id: str, partition: int, offset: int) -> Consumed:
    entry = Consumed(topic=TOPICS.chat_events, partition=partition, offset=offset, key=None, consumed_at=0.0)
    entry.event = ChatEvent(
        event_id=event_id, conversation_id="c", user_id="u", role=ChatRole.USER, text="坏", created_at_ms=1
    )
    return entry


def outputs(*entries: Consumed) -> BatchOutputs:
    """A finished batch of ``entries``, every one judged unsafe (so it is flagged too)."""
    batch = Batch(seq=1, entries=list(entries), sealed_at=0.0)
    batch.complete((0, len(entries)), np.full(len(entries), 0.9), "1", 1.0)
    return build_outputs(batch, STAMP, now_ms=5)


def sink(audit: AuditStore, producer: ScriptedProducer) -> TransactionalSink:
    return TransactionalSink(
        producer, FakeGroupConsumer(), audit, TOPICS, lambda record, topic: record.event_id.encode(),  # type: ignore[arg-type, attr-defined]
        stamp=STAMP, sleep=lambda _s: None,
    )  # fmt: skip


def produced(producer: ScriptedProducer, topic: str) -> list[bytes]:
    return [value for transaction in producer.committed for name, _, value in transaction.records if name == topic]


def test_copies_within_a_batch_and_in_later_batches_on_other_partitions_get_no_second_verdict(
    audit: AuditStore,
) -> None:
    producer = ScriptedProducer()
    worker_sink = sink(audit, producer)
    first = outputs(read("a", 0, 0), read("b", 0, 1), read("a", 0, 2))
    worker_sink.commit(first, {(TOPICS.chat_events, 0): 3})
    later = outputs(read("c", 1, 0), read("b", 1, 1), read("a", 2, 9))
    worker_sink.commit(later, {(TOPICS.chat_events, 1): 2, (TOPICS.chat_events, 2): 10})

    assert produced(producer, TOPICS.verdicts) == [b"a", b"b", b"c"]
    assert produced(producer, TOPICS.flagged) == [b"a", b"b", b"c"]
    assert [(entry.partition, entry.offset) for entry, _ in first.duplicates + later.duplicates] == [
        (0, 2),
        (1, 1),
        (2, 9),
    ]
    assert producer.committed[1].offsets == {(TOPICS.chat_events, 1): 2, (TOPICS.chat_events, 2): 10}
    assert audit.verdict_count() == 3 and audit.duplicate_count() == 3


def test_a_batch_processed_again_after_a_crash_produces_its_verdicts_again(audit: AuditStore) -> None:
    crashed = ScriptedProducer({"commit_transaction": [RuntimeError("killed before the commit")]})
    with pytest.raises(RuntimeError):
        sink(audit, crashed).commit(outputs(read("a", 0, 0), read("a", 0, 1)), {(TOPICS.chat_events, 0): 2})
    assert crashed.committed == []

    restarted = ScriptedProducer()
    replay = outputs(read("a", 0, 0), read("a", 0, 1))
    sink(audit, restarted).commit(replay, {(TOPICS.chat_events, 0): 2})

    assert produced(restarted, TOPICS.verdicts) == [b"a"]
    assert [(entry.partition, entry.offset) for entry, _ in replay.duplicates] == [(0, 1)]
    assert audit.verdict_count() == 1 and audit.duplicate_count() == 1
