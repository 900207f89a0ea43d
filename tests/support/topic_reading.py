"""Read a test topic from its beginning to its end as a reader at one isolation level sees it."""

from __future__ import annotations

import time
import uuid
from typing import NamedTuple

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from guardstream.settings import Settings
from workers.kafka_clients import build_reader


class ReadRecord(NamedTuple):
    """One record as read: where it lies, its key and its value."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes


def read_records(settings: Settings, topic: str, isolation: str, timeout_s: float = 30.0) -> list[ReadRecord]:
    """Every record of ``topic``; its end is the high watermark read_uncommitted and the last
    stable offset read_committed (an open transaction's records are not read past)."""
    reader = build_reader(
        settings.kafka,
        f"test-reader-{uuid.uuid4().hex[:8]}",
        **{"isolation.level": isolation, "enable.partition.eof": True},
    )
    partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
    reader.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in partitions])
    records: list[ReadRecord] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(at_end) < len(partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its end ({isolation}) within {timeout_s:.0f} s")
            for message in reader.consume(num_messages=500, timeout=0.5):
                error = message.error()
                if error is None:
                    at_end.discard(message.partition())
                    records.append(ReadRecord(message.partition(), message.offset(), message.key(), message.value()))
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
    finally:
        reader.close()
    return records


def read_values(settings: Settings, topic: str, isolation: str, timeout_s: float = 30.0) -> list[bytes]:
    """Every record value of ``topic`` (``read_records``)."""
    return [record.value for record in read_records(settings, topic, isolation, timeout_s)]
