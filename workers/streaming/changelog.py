"""The stream workers' changelog: each open stream's progress, in a compacted topic.

The changelog has as many partitions as the reply-chunks topic and a stream's progress goes to the
partition its chunks come from, so a worker assigned reply-chunks partition *p* restores exactly the
streams of *p* by reading changelog partition *p* to its end (``read_committed``: an aborted
attempt's progress is never seen). Progress is written in the same Kafka transaction as the stream
verdicts and the input offsets, so the two always agree. A finished stream leaves a marker
(late chunks of it are duplicates), tombstoned once older than finished_retention_s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from guardstream.errors import ConfigurationError
from guardstream.streaming.progress import StreamProgress
from workers.kafka_clients import read_to_end

log = logging.getLogger(__name__)

TOPIC_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}


def ensure_changelog(admin: AdminClient, changelog: str, source: str, timeout_s: float = 30.0) -> int:
    """Create the changelog with the source topic's partition count when it is missing; refuse one
    whose partition count differs (its streams would be restored by the wrong workers)."""
    topics = admin.list_topics(timeout=timeout_s).topics
    if source not in topics or topics[source].error is not None:
        raise ConfigurationError(f"topics.reply_chunks: topic {source!r} does not exist")
    partitions = len(topics[source].partitions)
    existing = topics.get(changelog)
    if existing is not None and existing.error is None:
        if len(existing.partitions) != partitions:
            raise ConfigurationError(
                f"topics.stream_state: {changelog!r} has {len(existing.partitions)} partitions, "
                f"{source!r} has {partitions}: they must match"
            )
        return partitions
    future = admin.create_topics([NewTopic(changelog, partitions, config=TOPIC_CONFIG)])[changelog]
    try:
        future.result(timeout=timeout_s)
        log.info("created the stream changelog %s with %d partitions", changelog, partitions)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    return partitions


def restore(new_reader: Callable[[], Consumer], changelog: str, partition: int) -> dict[str, StreamProgress]:
    """The open streams of one partition, as the last committed transaction left them."""
    streams: dict[str, StreamProgress] = {}
    for key, value in read_to_end(new_reader, changelog, only={partition}, timeout_s=120.0):
        if key is None:
            continue
        stream_id = key.decode("utf-8")
        if value is None:
            streams.pop(stream_id, None)
        else:
            streams[stream_id] = StreamProgress.decode(value)
    return streams
