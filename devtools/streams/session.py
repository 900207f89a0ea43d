"""A run of the stream worker against the real stack: its own topics, replies produced chunk by
chunk, and everything it committed read back (``read_committed``)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic

from devtools.demo.replay import WorkerProcess
from devtools.streams.replies import StreamedReply
from guardstream.errors import PoisonInputError
from guardstream.records import Verdict
from guardstream.serde.codec import AvroDecoder, encode_record
from guardstream.settings import KafkaSettings, Settings, TopicSettings
from guardstream.streaming.records import ReplyChunk, StreamRetraction, StreamVerdict
from workers.kafka_clients import build_producer, build_settings_admin_client, one_off_reader, read_to_end

STREAM_PARTITIONS = 3
StreamRecord = StreamVerdict | StreamRetraction


def create_stream_topics(kafka: KafkaSettings, prefix: str, partitions: int = STREAM_PARTITIONS) -> TopicSettings:
    """Fresh topics ``<prefix>.<kind>`` for one run (the changelog is left to the worker to create)."""
    topics = TopicSettings(
        chat_events=f"{prefix}.chat.events",
        verdicts=f"{prefix}.verdicts",
        flagged=f"{prefix}.flagged",
        dlq=f"{prefix}.dlq",
        reply_chunks=f"{prefix}.reply-chunks",
        stream_verdicts=f"{prefix}.stream-verdicts",
        stream_state=f"{prefix}.stream-state",
    )
    wanted = {topics.reply_chunks: partitions, topics.stream_verdicts: partitions, topics.verdicts: 1}
    wanted |= {topics.flagged: 1, topics.dlq: 1}
    admin = build_settings_admin_client(kafka)
    for future in admin.create_topics([NewTopic(name, count, 1) for name, count in wanted.items()]).values():
        future.result(timeout=30)
    return topics


def delete_stream_topics(kafka: KafkaSettings, topics: TopicSettings) -> None:
    names = [topics.reply_chunks, topics.stream_verdicts, topics.stream_state, topics.verdicts, topics.flagged]
    names.append(topics.dlq)
    admin = build_settings_admin_client(kafka)
    for future in admin.delete_topics(names, operation_timeout=30).values():
        with contextlib.suppress(KafkaException):  # best effort clean-up of a run's topics
            future.result(timeout=30)


def stream_worker_environment(
    settings: Settings, topics: TopicSettings, audit_url: str, group: str, policy_file: Path | None = None
) -> dict[str, str]:
    env = {
        "GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "GUARDSTREAM_TRITON__GRPC_URL": settings.triton.grpc_url,
        "GUARDSTREAM_AUDIT__URL": audit_url,
        "GUARDSTREAM_STREAMS__GROUP_ID": group,
        "GUARDSTREAM_STREAMS__TRANSACTIONAL_ID_PREFIX": group,
    }
    if policy_file is not None:
        env["GUARDSTREAM_POLICY__FILE"] = str(policy_file)
    for name, value in topics.model_dump().items():
        env[f"GUARDSTREAM_TOPICS__{name.upper()}"] = value
    return env


def chunk_records(replies: Sequence[StreamedReply], open_streams: int, now_ms: int) -> list[ReplyChunk]:
    """The replies' chunks in the order a gateway with ``open_streams`` replies streaming at once
    sends them: round robin over the open ones, the next reply opening as one ends."""
    pending = list(replies)
    open_: list[tuple[StreamedReply, int]] = []
    out = []
    while pending or open_:
        while pending and len(open_) < open_streams:
            open_.append((pending.pop(0), 0))
        still = []
        for reply, seq in open_:
            out.append(
                ReplyChunk(
                    stream_id=reply.stream_id,
                    conversation_id=f"c-{reply.stream_id}",
                    user_id="u-stream",
                    question=reply.question if seq == 0 else "",
                    seq=seq,
                    delta=reply.chunks[seq],
                    final=seq == len(reply.chunks) - 1,
                    created_at_ms=now_ms,
                )
            )
            if seq + 1 < len(reply.chunks):
                still.append((reply, seq + 1))
        open_ = still
    return out


def produce_chunks(
    kafka: KafkaSettings, topic: str, chunks: Iterable[ReplyChunk], between: Callable[[int], None] = lambda _n: None
) -> int:
    """Produce every chunk keyed by stream_id; ``between(n)`` runs after the n-th (pacing, a kill)."""
    producer = build_producer(kafka)
    count = 0
    for chunk in chunks:
        producer.produce(topic, key=chunk.stream_id.encode(), value=encode_record(chunk))
        producer.poll(0)
        count += 1
        between(count)
    if producer.flush(60) != 0:
        raise RuntimeError("chunks still unsent after 60 s")
    return count


@dataclass(slots=True)
class StreamOutputs:
    records: list[StreamRecord] = field(default_factory=list)
    """Stream verdicts and retractions, in each partition's order (a stream's in its own order)."""
    finals: list[Verdict] = field(default_factory=list)

    def by_stream(self) -> dict[str, list[StreamRecord]]:
        grouped: dict[str, list[StreamRecord]] = {}
        for record in self.records:
            grouped.setdefault(record.stream_id, []).append(record)
        return grouped


def decode_stream_record(decoder: AvroDecoder, payload: bytes) -> StreamRecord:
    """A record of the stream-verdicts topic: a StreamVerdict or a StreamRetraction."""
    try:
        return decoder.decode(StreamVerdict, payload)
    except PoisonInputError as exc:
        if exc.kind != "wrong_schema":
            raise
        return decoder.decode(StreamRetraction, payload)


def read_outputs(kafka: KafkaSettings, topics: TopicSettings) -> StreamOutputs:
    reader = one_off_reader(kafka, "stream-outputs")
    decoder = AvroDecoder()
    outputs = StreamOutputs()
    # Finals first: a final verdict commits with its stream's records, so every final read here
    # has its records on the stream-verdicts topic by the time that is read.
    for _, value in read_to_end(reader, topics.verdicts):
        if value is not None:
            outputs.finals.append(decoder.decode(Verdict, value))
    for _, value in read_to_end(reader, topics.stream_verdicts):
        if value is not None:
            outputs.records.append(decode_stream_record(decoder, value))
    return outputs


def wait_for_finals(
    kafka: KafkaSettings, topics: TopicSettings, streams: int, workers: Sequence[WorkerProcess], timeout_s: float
) -> StreamOutputs:
    """Read the outputs until every stream has a final verdict; raise when a worker died or time ran out."""
    deadline = time.monotonic() + timeout_s
    while True:
        outputs = read_outputs(kafka, topics)
        if len({final.event_id for final in outputs.finals}) >= streams:
            return outputs
        dead = [worker for worker in workers if not worker.alive()]
        if dead:
            raise RuntimeError(f"the stream worker exited with {dead[0].process.returncode}: see {dead[0].log_path}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(outputs.finals)} of {streams} final verdicts after {timeout_s:.0f}s")
        time.sleep(0.5)


def start_stream_worker(env: dict[str, str], log_dir: Path, worker_id: str | None = None) -> WorkerProcess:
    worker_id = worker_id or f"stream-{uuid.uuid4().hex[:8]}"
    return WorkerProcess(worker_id, log_dir / f"{worker_id}.log", env, command="stream-worker")
