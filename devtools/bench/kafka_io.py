"""Kafka plumbing of the benchmark: its own topics per run, progress of a group, reading verdicts."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import TopicPartition
from confluent_kafka.admin import NewTopic

from guardstream.records import GuardStage, Verdict
from guardstream.serde.codec import AvroDecoder
from guardstream.settings import KafkaSettings, TopicSettings
from workers.kafka_clients import build_reader, build_settings_admin_client, end_offsets, position_of

INPUT_PARTITIONS = 6


def create_topics(kafka: KafkaSettings, prefix: str, input_partitions: int = INPUT_PARTITIONS) -> TopicSettings:
    """Fresh pipeline topics named ``<prefix>.<kind>``, so runs never see each other's data."""
    topics = TopicSettings(
        chat_events=f"{prefix}.chat.events",
        verdicts=f"{prefix}.verdicts",
        flagged=f"{prefix}.flagged",
        dlq=f"{prefix}.dlq",
        feedback=f"{prefix}.feedback",
        actions=f"{prefix}.actions",
    )
    partitions = {
        topics.chat_events: input_partitions,
        topics.verdicts: input_partitions,
        topics.flagged: 1,
        topics.dlq: 1,
    }
    admin = build_settings_admin_client(kafka)
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=count, replication_factor=1) for name, count in partitions.items()]
    )
    for future in futures.values():
        future.result(timeout=30)
    return topics


def delete_topics(kafka: KafkaSettings, topics: TopicSettings) -> None:
    admin = build_settings_admin_client(kafka)
    names = [topics.chat_events, topics.verdicts, topics.flagged, topics.dlq]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        with contextlib.suppress(Exception):  # best effort clean-up of benchmark topics
            future.result(timeout=30)


def wait_caught_up(
    kafka: KafkaSettings,
    group: str,
    topic: str,
    timeout_s: float,
    alive: Callable[[], bool] = lambda: True,
    interval_s: float = 0.5,
) -> float:
    """Block until ``group`` has committed the end of every partition of ``topic``; returns when.

    Reads committed offsets without joining the group (a consumer that never subscribes).
    Raises TimeoutError, or RuntimeError when ``alive`` says the workers died.
    """
    probe = build_reader(kafka, group)
    try:
        targets = end_offsets(probe, topic)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError("a worker process exited while the benchmark waited for it")
            committed = {tp.partition: tp.offset for tp in probe.committed(targets, timeout=10)}
            if all(committed.get(tp.partition, -1) >= tp.offset for tp in targets):
                return time.monotonic()
            time.sleep(interval_s)
    finally:
        probe.close()
    raise TimeoutError(f"group {group} did not catch up with {topic} within {timeout_s:.0f}s")


@dataclass(frozen=True, slots=True)
class VerdictSample:
    event_id: str
    verdict_at_ms: int
    end_to_end_ms: float
    inference_ms: float
    stage: GuardStage | None = None
    """The cascade stage that decided; None when one model judged alone."""


def read_verdicts(kafka: KafkaSettings, topic: str, timeout_s: float = 60.0) -> list[VerdictSample]:
    """Every committed verdict on ``topic``, from the start to its current end."""
    reader = build_reader(kafka, f"guardstream-bench-reader-{uuid.uuid4().hex[:8]}")
    decoder = AvroDecoder()
    samples: list[VerdictSample] = []
    try:
        targets = {tp.partition: tp.offset for tp in end_offsets(reader, topic)}
        reader.assign([TopicPartition(topic, partition, 0) for partition in targets])
        positions = {partition: 0 for partition in targets}
        deadline = time.monotonic() + timeout_s
        while any(positions[p] < targets[p] for p in targets) and time.monotonic() < deadline:
            for message in reader.consume(num_messages=2000, timeout=0.5):
                if message.error():
                    continue
                _topic, partition, offset = position_of(message)
                positions[partition] = offset + 1
                verdict = decoder.decode(Verdict, message.value())
                samples.append(
                    VerdictSample(
                        verdict.event_id,
                        verdict.verdict_at_ms,
                        verdict.end_to_end_ms,
                        verdict.inference_ms,
                        verdict.stage,
                    )
                )
            if any(positions[p] < targets[p] for p in targets):
                # transaction markers take offsets too: the position may stop one short
                for tp in reader.position([TopicPartition(topic, p) for p in targets]):
                    if tp.offset >= 0:
                        positions[tp.partition] = max(positions[tp.partition], tp.offset)
    finally:
        reader.close()
    return samples
