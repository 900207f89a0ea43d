"""Replay a generated Chinese chat stream through a real worker and collect every outcome.

The job starts its own worker process, waits until it has joined the consumer group, produces the
stream (mostly Avro single-object records, some JSON, a few malformed payloads), then reads
``moderation.verdicts`` and ``moderation.dlq`` with ``read_committed`` until every produced
record is accounted for by its source position, and stops the worker with SIGTERM.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from opentelemetry.trace import SpanKind, Tracer

from devtools.loadgen.chat_stream import generate_chat_events, poison_payloads
from guardstream.records import Analysis, DeadLetter, Verdict
from guardstream.serde.codec import AvroDecoder, encode_record
from guardstream.serde.json_codec import chat_event_to_json
from guardstream.settings import Settings, TopicSettings
from guardstream.telemetry import format_traceparent
from workers.kafka_clients import build_producer, build_reader, end_offsets

log = logging.getLogger(__name__)

Position = tuple[int, int]
"""(partition, offset) of a produced input record."""


@dataclass(slots=True)
class ReplayOutcome:
    produced: dict[Position, str] = field(default_factory=dict)
    """Every produced record's position, with ``valid`` or the poison kind."""
    verdicts: dict[Position, Verdict] = field(default_factory=dict)
    dead_letters: dict[Position, DeadLetter] = field(default_factory=dict)
    duplicate_verdicts: int = 0
    first_produced_ms: int = 0
    expected: dict[str, str] = field(default_factory=dict)
    """The load generator's ground truth per produced event id: ``safe`` or ``unsafe``."""

    @property
    def pending(self) -> int:
        return len(self.produced) - len(self.verdicts) - len(self.dead_letters)


class WorkerProcess:
    """A real ``guardstream worker`` in a child process, logging to a file.

    Its health and metrics server is off unless ``metrics_port`` names a port, so that several
    workers on one host never compete for one.
    """

    def __init__(
        self,
        worker_id: str,
        log_path: Path,
        env: dict[str, str] | None = None,
        metrics_port: int = 0,
        *,
        command: str = "worker",
    ) -> None:
        """``command``: ``worker`` (chat events) or ``stream-worker`` (streamed replies; no metrics server)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self.metrics_port = metrics_port
        self._log = log_path.open("ab")
        metrics = ["--metrics-port", str(metrics_port)] if command == "worker" else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", command, "--worker-id", worker_id, *metrics],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 60.0) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def worker_environment(
    settings: Settings, topics: TopicSettings, audit_url: str, group: str, analysis: bool = False
) -> dict[str, str]:
    """Environment variables that point a worker process at these topics, this audit store and group,
    and at the guard these settings name (the cascade's fast model, or none).

    Its analysis thread runs only when ``analysis`` is true: the tests, benchmarks and chaos runs
    that use this measure the verdict path, and explain mode would share the machine's cores.
    """
    env = {
        "GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "GUARDSTREAM_TRITON__GRPC_URL": settings.triton.grpc_url,
        "GUARDSTREAM_TRITON__FAST_MODEL_NAME": settings.triton.fast_model_name,
        "GUARDSTREAM_AUDIT__URL": audit_url,
        "GUARDSTREAM_WORKER__GROUP_ID": group,
        "GUARDSTREAM_WORKER__TRANSACTIONAL_ID_PREFIX": group,
        "GUARDSTREAM_ANALYSIS__ENABLED": str(analysis).lower(),
    }
    for name, value in topics.model_dump().items():
        env[f"GUARDSTREAM_TOPICS__{name.upper()}"] = value
    return env


def wait_for_group_member(admin: AdminClient, group_id: str, worker: WorkerProcess, timeout_s: float) -> None:
    """Block until the group is stable with a member (the worker is consuming)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"worker exited with {worker.process.returncode}; see {worker.log_path}")
        try:
            description = admin.describe_consumer_groups([group_id])[group_id].result(timeout=5)
            if description.members and str(description.state).endswith("STABLE"):
                return
        except KafkaException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"worker did not join group {group_id} within {timeout_s:.0f}s; see {worker.log_path}")


def produce_stream(
    settings: Settings,
    events: int,
    seed: int,
    json_share: float,
    poison_count: int,
    run_id: str,
    tracer: Tracer | None = None,
) -> ReplayOutcome:
    """Produce the stream; every record's delivered position is kept to account for it later.

    Each valid event carries a W3C ``traceparent`` header: the context of a ``publish`` span when
    a ``tracer`` is given (the trace then starts here), else fresh random ids, sampled.
    """
    outcome = ReplayOutcome()
    rng = random.Random(seed)
    producer = build_producer(settings.kafka, **{"message.max.bytes": 4 * 1024 * 1024})
    poison = poison_payloads(seed)[:poison_count]
    poison_slots = {rng.randrange(events + len(poison)): item for item in poison}
    failures: list[str] = []

    def delivered(kind: str) -> Callable[[object, object], None]:
        def report(error: object, message: object) -> None:
            if error is not None:
                failures.append(f"{kind}: {error}")
            else:
                outcome.produced[(message.partition(), message.offset())] = kind  # type: ignore[attr-defined]  # the delivery report's message is a confluent_kafka Message

        return report

    stream = generate_chat_events(events, seed)
    outcome.first_produced_ms = int(time.time() * 1000)
    slot = 0
    produced_events = 0
    while produced_events < events:
        if slot in poison_slots:
            kind, payload = poison_slots.pop(slot)
            producer.produce(settings.topics.chat_events, value=payload, key=b"poison", on_delivery=delivered(kind))
        else:
            event = dataclasses.replace(
                next(stream),
                created_at_ms=int(time.time() * 1000),
            )
            event = dataclasses.replace(event, event_id=f"{run_id}-{event.event_id}")
            outcome.expected[event.event_id] = event.metadata.get("expected", "safe")
            value = chat_event_to_json(event) if rng.random() < json_share else encode_record(event)
            traceparent = _publish_context(tracer, settings.topics.chat_events, event.event_id)
            producer.produce(
                settings.topics.chat_events,
                value=value,
                key=event.conversation_id.encode("utf-8"),
                headers=[("traceparent", traceparent.encode("ascii"))],
                on_delivery=delivered("valid"),
            )
            produced_events += 1
        producer.poll(0)
        slot += 1
    for kind, payload in poison_slots.values():
        producer.produce(settings.topics.chat_events, value=payload, key=b"poison", on_delivery=delivered(kind))
    if producer.flush(60) or failures:
        raise RuntimeError(f"could not produce the whole stream: {failures[:5]}")
    return outcome


def _publish_context(tracer: Tracer | None, topic: str, event_id: str) -> str:
    if tracer is None:
        return format_traceparent(uuid.uuid4().int, uuid.uuid4().int >> 64, sampled=True)
    span = tracer.start_span(
        f"publish {topic}",
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic, "guardstream.event_id": event_id},
    )
    span.end()
    context = span.get_span_context()
    return format_traceparent(context.trace_id, context.span_id, context.trace_flags.sampled)


def collect_outcomes(
    settings: Settings,
    outcome: ReplayOutcome,
    start: dict[str, list[TopicPartition]],
    timeout_s: float,
    progress: Callable[[int], None],
    worker: WorkerProcess | None = None,
) -> None:
    """Read verdicts and dead letters (read_committed) until every produced record has one."""
    reader = build_reader(settings.kafka, f"guardstream-demo-{uuid.uuid4().hex[:8]}")
    reader.assign([tp for positions in start.values() for tp in positions])
    decoder = AvroDecoder()
    input_topic = settings.topics.chat_events
    deadline = time.monotonic() + timeout_s
    try:
        while outcome.pending > 0 and time.monotonic() < deadline:
            if worker is not None and not worker.alive():
                raise RuntimeError(f"worker exited with {worker.process.returncode}; see {worker.log_path}")
            for message in reader.consume(num_messages=1000, timeout=0.5):
                if message.error():
                    continue
                if message.topic() == settings.topics.verdicts:
                    verdict = decoder.decode(Verdict, message.value())
                    position = (verdict.source_partition, verdict.source_offset)
                    if verdict.source_topic == input_topic and position in outcome.produced:
                        if position in outcome.verdicts:
                            outcome.duplicate_verdicts += 1
                        outcome.verdicts[position] = verdict
                else:
                    letter = decoder.decode(DeadLetter, message.value())
                    position = (letter.source_partition, letter.source_offset)
                    if letter.source_topic == input_topic and position in outcome.produced:
                        outcome.dead_letters[position] = letter
            progress(len(outcome.verdicts) + len(outcome.dead_letters))
    finally:
        reader.close()


def output_start_positions(settings: Settings, topics: Sequence[str] = ()) -> dict[str, list[TopicPartition]]:
    """Where each output topic ends now (default: verdicts and dead letters): the run's outputs follow."""
    probe = build_reader(settings.kafka, f"guardstream-demo-probe-{uuid.uuid4().hex[:8]}")
    try:
        return {topic: end_offsets(probe, topic) for topic in topics or (settings.topics.verdicts, settings.topics.dlq)}
    finally:
        probe.close()


def collect_analyses(
    settings: Settings,
    start: list[TopicPartition],
    flagged: set[str],
    timeout_s: float,
    progress: Callable[[int], None],
) -> list[Analysis]:
    """Read ``moderation.analyses`` (read_committed) from ``start`` until every flagged event has one.

    Every analysis of a flagged event is returned, duplicates included (there should be none).
    """
    reader = build_reader(settings.kafka, f"guardstream-demo-{uuid.uuid4().hex[:8]}")
    reader.assign(start)
    decoder = AvroDecoder()
    analyses: list[Analysis] = []
    done: set[str] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while done < flagged and time.monotonic() < deadline:
            for message in reader.consume(num_messages=1000, timeout=0.5):
                if message.error():
                    continue
                analysis = decoder.decode(Analysis, message.value())
                if analysis.event_id in flagged:
                    analyses.append(analysis)
                    done.add(analysis.event_id)
            progress(len(done))
    finally:
        reader.close()
    return analyses
