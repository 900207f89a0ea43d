"""Read a topic (read_committed) from a point in time, or its beginning, up to its current end."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from guardstream.errors import RetriableError
from guardstream.settings import KafkaSettings
from workers.kafka_clients import build_reader


def read_to_end(
    kafka: KafkaSettings, topic: str, since_ms: int | None = None, timeout_s: float = 60.0
) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every record of ``topic`` from ``since_ms`` (None: the beginning) to its end.

    "The end" is each partition's high watermark when the call starts; a missing topic reads as
    empty. Raises :class:`RetriableError` if the end is not reached within ``timeout_s``.
    """
    reader = build_reader(kafka, f"guardstream-escalation-reader-{uuid.uuid4().hex}")
    try:
        metadata = reader.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            return []
        partitions = [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
        if since_ms is None:
            starts = [TopicPartition(topic, p.partition, OFFSET_BEGINNING) for p in partitions]
        else:
            starts = reader.offsets_for_times(
                [TopicPartition(topic, p.partition, since_ms) for p in partitions], timeout=timeout_s
            )
        lows: dict[int, int] = {}
        ends: dict[int, int] = {}
        for tp in partitions:
            lows[tp.partition], ends[tp.partition] = reader.get_watermark_offsets(tp, timeout=timeout_s)
        wanted = [
            tp
            for tp in starts
            if (tp.offset == OFFSET_BEGINNING and ends[tp.partition] > lows[tp.partition])
            or 0 <= tp.offset < ends[tp.partition]
        ]
        if not wanted:
            return []
        reader.assign(wanted)
        pending = {tp.partition for tp in wanted}
        records: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise RetriableError(f"could not read {topic} to its end within {timeout_s}s")
            for message in reader.consume(1000, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(error)
                if message.partition() in pending:
                    records.append((message.key(), message.value()))
            for tp in reader.position([TopicPartition(topic, p) for p in pending]):
                if tp.offset >= ends[tp.partition]:
                    pending.discard(tp.partition)
        return records
    finally:
        reader.close()
