"""Wiring: build a stream worker from the settings (the only place that knows every part)."""

from __future__ import annotations

from collections.abc import Sequence

from guardstream.audit.engine import build_engine, prepare_schema
from guardstream.audit.store import AuditStore
from guardstream.errors import PoisonInputError, RetriableError
from guardstream.guard.categories import HarmCategory
from guardstream.policy import Policy
from guardstream.serde.codec import AvroDecoder, AvroEncoder
from guardstream.serde.confluent import ConfluentSerde
from guardstream.settings import Settings
from guardstream.streaming.records import ReplyChunk
from guardstream.streaming.rules import StreamModel
from workers.kafka_clients import (
    build_moderation_consumer,
    build_settings_admin_client,
    build_transactional_producer,
    one_off_reader,
)
from workers.streaming.changelog import ensure_changelog
from workers.streaming.cycle import Cycle, WholeScore
from workers.streaming.stream_client import ChunkAnswer, ChunkRequest, StreamModelClient
from workers.streaming.worker import StreamWorker
from workers.transactions import KafkaTransactions
from workers.triton_client import GuardModelClient, wait_for_outcome


class StreamModels:
    """The stream models and the plain guards, one of each kind, as the cycle asks them."""

    def __init__(self, settings: Settings) -> None:
        triton, streams = settings.triton, settings.streams
        self._chunks = {
            StreamModel.FAST: StreamModelClient(triton, streams.fast_model_name),
            StreamModel.GENERATIVE: StreamModelClient(triton, streams.generative_model_name),
        }
        self._whole_names = {
            StreamModel.FAST: triton.fast_model_name or triton.model_name,
            StreamModel.GENERATIVE: triton.model_name,
        }
        self._whole = {
            kind: GuardModelClient(triton.model_copy(update={"model_name": name, "model_version": ""}))
            for kind, name in self._whole_names.items()
        }
        self._checked: set[StreamModel] = set()
        self._timeout_s = triton.request_timeout_s

    def score_chunks(self, kind: StreamModel, requests: Sequence[ChunkRequest]) -> tuple[list[ChunkAnswer], str, str]:
        client = self._chunks[kind]
        return client.score(requests), client.model_name, client.version()

    def score_whole(self, kind: StreamModel, pairs: Sequence[tuple[str, str]]) -> list[WholeScore]:
        client = self._whole[kind]
        if kind not in self._checked:
            client.check_contract(1)  # asks for the category outputs too
            self._checked.add(kind)
        outcome = wait_for_outcome(client, pairs, self._timeout_s)
        if outcome.p_unsafe is None:
            raise RetriableError("the guard answered without scores")
        named = outcome.categories or [None] * len(pairs)
        return [
            WholeScore(
                float(p),
                HarmCategory(category[0]) if category else None,
                category[1] if category else 0.0,
                self._whole_names[kind],
                outcome.model_version,
            )
            for p, category in zip(outcome.p_unsafe, named, strict=True)
        ]


def build_stream_worker(settings: Settings) -> StreamWorker:
    """Check the changelog topic (created when missing), migrate the audit store (or check its schema), assemble the worker."""
    ensure_changelog(
        build_settings_admin_client(settings.kafka), settings.topics.stream_state, settings.topics.reply_chunks
    )
    engine = build_engine(settings.audit.url)
    prepare_schema(engine, settings.audit.migrate_on_start)
    worker_id = settings.worker.worker_id
    transactional_id = f"{settings.streams.transactional_id_prefix}-{worker_id}"
    consumer = build_moderation_consumer(settings.kafka, settings.streams.group_id, worker_id)
    producer = build_transactional_producer(settings.kafka, transactional_id)
    registry = (
        ConfluentSerde.from_url(settings.kafka.schema_registry_url) if settings.kafka.schema_registry_url else None
    )
    encoder = AvroEncoder(registry)
    decoder = AvroDecoder(registry)
    policy = Policy.from_settings(settings.policy)
    models = StreamModels(settings)
    cycle = Cycle(
        policy,
        lambda payload: _chunk(decoder, payload),
        models.score_chunks,
        models.score_whole,
        worker_id=worker_id,
        dlq_payload_max_bytes=settings.worker.dlq_payload_max_bytes,
    )
    transactions = KafkaTransactions(
        producer, consumer, rebuild=lambda: build_transactional_producer(settings.kafka, transactional_id)
    )
    return StreamWorker(
        settings.streams,
        settings.topics,
        policy,
        consumer,
        transactions,
        AuditStore(engine),
        cycle,
        encoder.encode,
        one_off_reader(settings.kafka, "stream-changelog"),
    )


def _chunk(decoder: AvroDecoder, payload: bytes | None) -> ReplyChunk:
    chunk = decoder.decode(ReplyChunk, payload)
    if not chunk.stream_id:
        raise PoisonInputError("missing_field", "stream_id is empty")
    if chunk.seq < 0:
        raise PoisonInputError("bad_field", f"seq must not be negative, got {chunk.seq}")
    if "\x00" in chunk.delta or "\x00" in chunk.question:
        raise PoisonInputError("nul_character", "the delta or the question holds a NUL character")
    return chunk
