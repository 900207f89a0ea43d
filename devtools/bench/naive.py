"""The naive baseline: one Triton call per message, synchronously, then produce the verdict.

A real Kafka consumer and producer, no batching, no pipelining, offsets committed now and then
(at-least-once): what a first attempt at the job usually looks like.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from guardstream.errors import PoisonInputError
from guardstream.policy import Policy
from guardstream.records import Verdict
from guardstream.serde.codec import AvroEncoder, ChatEventDecoder
from guardstream.settings import Settings, TopicSettings
from workers.kafka_clients import build_producer, build_reader, position_of
from workers.triton_client import GuardModelClient


@dataclass(frozen=True, slots=True)
class NaiveReport:
    processed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


def run_naive(settings: Settings, topics: TopicSettings, seconds: float, limit: int | None = None) -> NaiveReport:
    """Consume ``topics.chat_events`` for ``seconds`` (or ``limit`` messages), one call each."""
    consumer = build_reader(settings.kafka, f"guardstream-bench-naive-{uuid.uuid4().hex[:8]}")
    producer = build_producer(settings.kafka)
    model = GuardModelClient(settings.triton)
    decoder, encoder = ChatEventDecoder(), AvroEncoder()
    policy = Policy.from_settings(settings.policy)
    version = model.version()
    consumer.subscribe([topics.chat_events])
    processed = 0
    started: float | None = None
    try:
        deadline = time.monotonic() + seconds + 30.0  # the group join may take a while
        while time.monotonic() < deadline:
            if started is not None and (time.monotonic() - started >= seconds or (limit and processed >= limit)):
                break
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            if started is None:
                started = time.monotonic()
            try:
                event = decoder.decode(message.value())
            except PoisonInputError:
                continue
            p_unsafe = float(model.score([event.guard_pair()])[0])
            source_topic, source_partition, source_offset = position_of(message)
            now_ms = time.time_ns() // 1_000_000
            verdict = Verdict(
                event_id=event.event_id,
                conversation_id=event.conversation_id,
                user_id=event.user_id,
                label=policy.label(p_unsafe, None),
                p_unsafe=p_unsafe,
                model_name=settings.triton.model_name,
                model_version=version,
                policy_version=policy.version,
                event_created_at_ms=event.created_at_ms,
                verdict_at_ms=now_ms,
                queue_ms=0.0,
                inference_ms=0.0,
                end_to_end_ms=float(now_ms - event.created_at_ms),
                source_topic=source_topic,
                source_partition=source_partition,
                source_offset=source_offset,
            )
            producer.produce(topics.verdicts, value=encoder.encode(verdict), key=event.conversation_id.encode())
            producer.poll(0)
            processed += 1
            if processed % 100 == 0:
                consumer.commit(asynchronous=True)
        elapsed = time.monotonic() - started if started is not None else 0.0
        producer.flush(30)
    finally:
        consumer.close()
        model.close()
    return NaiveReport(processed, elapsed)
