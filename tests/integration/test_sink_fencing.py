"""Fencing on the real broker: a worker restarted with the same id makes its predecessor a zombie."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import TopicPartition

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.store import AuditStore
from guardstream.policy import Policy
from guardstream.serde.codec import AvroEncoder
from guardstream.settings import Settings, TopicSettings
from workers.kafka_clients import build_moderation_consumer, build_transactional_producer
from workers.moderation.outputs import BatchOutputs, OutputStamp
from workers.moderation.sink import TransactionalSink
from workers.transactions import ProducerFencedError

pytestmark = pytest.mark.integration


def test_the_older_instance_is_fenced_and_only_the_newer_one_moves_offsets(
    base_settings: Settings, fresh_topics: TopicSettings, sqlite_url: str
) -> None:
    engine = build_engine(sqlite_url)
    migrate(engine)
    group = f"test-fencing-{uuid.uuid4().hex[:8]}"
    consumer = build_moderation_consumer(base_settings.kafka, group, "fencing-test")
    transactional_id = f"{group}-w1"

    def instance() -> TransactionalSink:
        producer = build_transactional_producer(base_settings.kafka, transactional_id)
        sink = TransactionalSink(
            producer, consumer, AuditStore(engine), fresh_topics, AvroEncoder().encode,
            stamp=OutputStamp("guard", Policy("p", 0.5, 0.35), "w1", 1024),
            rebuild=lambda: build_transactional_producer(base_settings.kafka, transactional_id),
        )  # fmt: skip
        sink.start()
        return sink

    partition = (fresh_topics.chat_events, 0)
    try:
        old = instance()
        old.commit(BatchOutputs(), {partition: 1})
        new = instance()  # init_transactions with the same id fences the old producer
        with pytest.raises(ProducerFencedError):
            old.commit(BatchOutputs(), {partition: 5})
        new.commit(BatchOutputs(), {partition: 2})
        [committed] = consumer.committed([TopicPartition(*partition)], timeout=10)
        assert committed.offset == 2
    finally:
        consumer.close()
