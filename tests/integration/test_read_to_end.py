"""The one read-to-end helper (escalation state and actions, the feedback relay's scan, training's
labels) against the real broker: committed records only, from a point in time, never a partial read."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Producer

from guardstream.settings import Settings, TopicSettings
from workers.kafka_clients import build_transactional_producer, one_off_reader, read_to_end

pytestmark = pytest.mark.integration


def send(producer: Producer, topic: str, partition: int, value: bytes, timestamp_ms: int) -> None:
    producer.produce(topic, value=value, key=value, partition=partition, timestamp=timestamp_ms)


def test_a_topic_is_read_to_its_end_committed_only_and_from_a_point_in_time(
    base_settings: Settings, fresh_topics: TopicSettings
) -> None:
    topic = fresh_topics.flagged  # two partitions
    base_ms = int(time.time() * 1000) - 120_000  # transaction markers carry the broker's time: now
    producer = build_transactional_producer(base_settings.kafka, f"test-read-to-end-{uuid.uuid4().hex[:8]}")
    producer.init_transactions(30)
    producer.begin_transaction()
    for index in range(3):
        send(producer, topic, 0, f"p0-{index}".encode(), base_ms + index * 1000)
    send(producer, topic, 1, b"p1-0", base_ms + 500)
    producer.commit_transaction(30)
    producer.begin_transaction()
    send(producer, topic, 1, b"aborted", base_ms + 5000)
    producer.abort_transaction(30)
    producer.begin_transaction()
    send(producer, topic, 1, b"p1-1", base_ms + 6000)
    producer.commit_transaction(30)

    reader = one_off_reader(base_settings.kafka, "test")
    everything = read_to_end(reader, topic)
    assert sorted(value for _key, value in everything if value) == [b"p0-0", b"p0-1", b"p0-2", b"p1-0", b"p1-1"]
    assert [value for _key, value in everything if value and value.startswith(b"p0")] == [b"p0-0", b"p0-1", b"p0-2"]
    assert all(key == value for key, value in everything)

    since = read_to_end(reader, topic, since_ms=base_ms + 1000)
    assert sorted(value for _key, value in since if value) == [b"p0-1", b"p0-2", b"p1-1"]
    assert read_to_end(reader, topic, since_ms=base_ms + 3_600_000) == []  # nothing that late


def test_a_missing_topic_reads_as_empty(base_settings: Settings) -> None:
    assert (
        read_to_end(one_off_reader(base_settings.kafka, "test"), f"test.missing.{uuid.uuid4().hex[:10]}", timeout_s=10)
        == []
    )
