"""In-memory stand-ins for the moderation worker's collaborators (workers.moderation.collaborators),
and a worker assembled on them: unit tests of the loop's semantics without Kafka, Triton or a database.

tests/unit/moderation/conftest.py offers the fakes as fixtures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, KafkaError, TopicPartition

from guardstream.errors import DependencyUnavailableError, RetriableError
from guardstream.policy import Policy
from guardstream.records import ChatEvent, ChatRole
from guardstream.serde.codec import ChatEventDecoder, encode_record
from guardstream.settings import AuditSettings, TritonSettings, WorkerSettings
from tests.support.kafka_fakes import FakeMessage
from workers.moderation.collaborators import Rebalance
from workers.moderation.health import KafkaWatch
from workers.moderation.instruments import WorkerInstruments
from workers.moderation.outputs import BatchOutputs, OutputStamp
from workers.moderation.screening import Screener
from workers.moderation.worker import ModerationWorker
from workers.transactions import ProducerFencedError
from workers.triton_client import Escalates, InferenceOutcome

TOPIC = "chat.events"


@dataclass(frozen=True, slots=True)
class CommittedOffset:
    """A partition's committed offset as confluent-kafka's ``Consumer.committed`` reports it (whose
    ``TopicPartition.error`` cannot be set from Python)."""

    topic: str
    partition: int
    offset: int
    error: KafkaError | None = None


@dataclass
class FakeConsumer:
    """Hands out ``messages``; keeps librdkafka's per-partition pause flags; assigns ``assignment`` on
    subscribe and revokes it on close, as the real one does. After 200 empty polls it calls ``on_idle``
    (the worker's stop); polls while paused do not count.

    ``messages`` are what librdkafka fetches when it picks each partition's start itself; a partition
    the worker assigns at an explicit offset (``incremental_assign``) skips those before it.
    ``committed`` reports ``committed_offsets`` (none: OFFSET_INVALID), after ``unstable_lookups``
    lookups that report UNSTABLE_OFFSET_COMMIT, as the group coordinator does while another member's
    transaction holding offsets for the partition is open."""

    messages: list[FakeMessage] = field(default_factory=list)
    assignment: list[TopicPartition] = field(default_factory=lambda: [TopicPartition(TOPIC, 0)])
    paused: set[tuple[str, int]] = field(default_factory=set)
    callbacks: dict[str, Rebalance] = field(default_factory=dict)
    sought: list[TopicPartition] = field(default_factory=list)
    on_idle: Callable[[], None] | None = None
    idle_polls: int = 0
    committed_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    unstable_lookups: int = 0
    lookups: int = 0
    starts: dict[tuple[str, int], int] = field(default_factory=dict)
    """The offsets the worker assigned each partition at."""
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per partition, the offset after the last record handed out (librdkafka's position)."""

    def subscribe(self, topics: list[str], **callbacks: Rebalance) -> None:
        self.callbacks = callbacks
        callbacks["on_assign"](self, list(self.assignment))

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        if self.paused:
            return []
        if not self.messages:
            self.idle_polls += 1
            if self.idle_polls > 200 and self.on_idle is not None:
                self.on_idle()
            return []
        self.messages = [message for message in self.messages if message.offset() >= self._start(message)]
        taken, self.messages = self.messages[:num_messages], self.messages[num_messages:]
        for message in taken:
            self.positions[(message.topic(), message.partition())] = message.offset() + 1
        return taken

    def _start(self, message: FakeMessage) -> int:
        start = self.starts.get((message.topic(), message.partition()), OFFSET_BEGINNING)
        return 0 if start == OFFSET_BEGINNING else start

    def incremental_assign(self, partitions: Sequence[TopicPartition]) -> None:
        self.starts.update(((tp.topic, tp.partition), tp.offset) for tp in partitions)

    def pause(self, partitions: Sequence[TopicPartition]) -> None:
        self.paused.update((tp.topic, tp.partition) for tp in partitions)

    def resume(self, partitions: Sequence[TopicPartition]) -> None:
        self.paused.difference_update((tp.topic, tp.partition) for tp in partitions)

    def committed(self, partitions: Sequence[TopicPartition], timeout: float) -> list[CommittedOffset]:
        self.lookups += 1
        if self.lookups <= self.unstable_lookups:
            unstable = KafkaError(KafkaError.UNSTABLE_OFFSET_COMMIT)
            return [CommittedOffset(tp.topic, tp.partition, OFFSET_INVALID, unstable) for tp in partitions]
        return [
            CommittedOffset(
                tp.topic, tp.partition, self.committed_offsets.get((tp.topic, tp.partition), OFFSET_INVALID)
            )
            for tp in partitions
        ]

    def seek(self, partition: TopicPartition) -> None:
        self.sought.append(partition)

    def position(self, partitions: Sequence[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.positions.get((tp.topic, tp.partition), OFFSET_INVALID))
            for tp in partitions
        ]

    def close(self) -> None:
        self.callbacks["on_revoke"](self, list(self.assignment))


@dataclass
class FakeModel:
    """Answers p_unsafe = min(1, characters of the question × ``per_char``), with ``category`` when set;
    the first ``outages`` calls fail as Triton unavailable."""

    outages: int = 0
    per_char: float = 0.01
    category: tuple[str, float] | None = None
    version: str = "3"
    calls: int = 0
    questions: list[str] = field(default_factory=list)
    """Every question sent, in order."""
    largest: int = 0
    """The most pairs one call was sent."""
    bands: list[Escalates] = field(default_factory=list)
    """Every pair's escalation band, when the worker sent them."""

    def forget_version(self) -> None:
        pass

    def submit(
        self,
        pairs: Sequence[tuple[str, str]],
        on_done: Callable[[InferenceOutcome], None],
        escalates: Sequence[Escalates] | None = None,
    ) -> None:
        self.calls += 1
        self.largest = max(self.largest, len(pairs))
        self.questions.extend(question for question, _ in pairs)
        self.bands.extend(escalates or ())
        if self.outages:
            self.outages -= 1
            on_done(InferenceOutcome(None, "", 1.0, RetriableError("Triton unavailable: connection refused")))
            return
        scores = np.array([min(1.0, len(question) * self.per_char) for question, _ in pairs])
        categories = [self.category] * len(pairs) if self.category else None
        on_done(InferenceOutcome(scores, self.version, 7.0, None, categories))


@dataclass
class FakeSink:
    """Keeps each commit's outputs and positions. Fails as the audit store being down for its first
    ``outages`` commits and for ``down_s`` seconds after it is made; when ``fenced``, as a zombie."""

    outages: int = 0
    down_s: float = 0.0
    fenced: bool = False
    commits: list[BatchOutputs] = field(default_factory=list)
    positions: list[dict[tuple[str, int], int]] = field(default_factory=list)
    attempts: int = 0
    largest: int = 0
    """The most finished records one commit was handed."""
    made_at: float = field(default_factory=time.monotonic)

    def start(self) -> None:
        pass

    def commit(self, outputs: BatchOutputs, positions: dict[tuple[str, int], int]) -> None:
        self.attempts += 1
        self.largest = max(self.largest, len(outputs.verdicts) + len(outputs.dead_letters))
        if self.fenced:
            raise ProducerFencedError("producer fenced")
        if self.outages or time.monotonic() - self.made_at < self.down_s:
            self.outages = max(0, self.outages - 1)
            raise DependencyUnavailableError("audit", "audit store unavailable")
        self.commits.append(outputs)
        self.positions.append(dict(positions))

    def abort_if_open(self) -> None:
        pass


def chat_event(index: int, text: str = "你好", metadata: dict[str, str] | None = None) -> bytes:
    """The encoded user message ``e<index>`` of conversation ``c``."""
    return encode_record(
        ChatEvent(
            event_id=f"e{index}", conversation_id="c", user_id="u", role=ChatRole.USER, text=text, created_at_ms=1,
            metadata=metadata or {},
        )
    )  # fmt: skip


def fake_worker(
    consumer: FakeConsumer,
    sink: Any,
    model: FakeModel,
    *,
    policy: Policy | None = None,
    instruments: WorkerInstruments | None = None,
    screener: Screener | None = None,
    shadow: Policy | None = None,
    rejudge_topic: str | None = None,
    kafka_watch: KafkaWatch | None = None,
    **settings: Any,
) -> ModerationWorker:
    """A worker on the fakes: batches of 4, 1 ms batch wait and commit interval, millisecond retries, a
    2 s drain; it stops once the consumer has run dry. ``sink`` is a FakeSink or a real sink."""
    defaults: dict[str, Any] = {
        "worker_id": "w", "batch_max_size": 4, "batch_max_wait_ms": 1, "commit_interval_ms": 1, "drain_timeout_s": 2
    }  # fmt: skip
    instance = ModerationWorker(
        WorkerSettings(**(defaults | settings)),
        TritonSettings(retry_initial_s=0.001, retry_max_s=0.002),
        AuditSettings(url="sqlite://", retry_initial_s=0.001, retry_max_s=0.002),
        TOPIC,
        consumer,  # type: ignore[arg-type]  # FakeMessage stands in for confluent-kafka's Message
        sink,
        model,
        ChatEventDecoder().decode,
        OutputStamp("guard", policy or Policy("p1", 0.5, 0.3), "w", 16, shadow=shadow),
        instruments=instruments,
        screener=screener,
        rejudge_topic=rejudge_topic,
        kafka_watch=kafka_watch,
    )
    consumer.on_idle = instance.stop
    return instance
