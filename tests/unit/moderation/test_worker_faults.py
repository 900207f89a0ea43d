"""Worker behaviour the chaos suite found wrong: paused partitions after a lost assignment, a fenced
sink during shutdown, and records whose headers alone are poison."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
from confluent_kafka import TopicPartition

from guardstream.policy import Policy
from guardstream.records import ChatEvent, ChatRole
from guardstream.serde.codec import ChatEventDecoder, encode_record
from guardstream.settings import AuditSettings, TritonSettings, WorkerSettings
from tests.support.kafka_fakes import FakeMessage as Message
from workers.moderation.outputs import BatchOutputs, OutputStamp
from workers.moderation.worker import ModerationWorker
from workers.transactions import ProducerFencedError
from workers.triton_client import InferenceOutcome

TOPIC = "chat.events"


@dataclass
class Consumer:
    """Keeps librdkafka's per-partition pause flags, and revokes on close as the real one does."""

    messages: list[Message] = field(default_factory=list)
    paused: set[tuple[str, int]] = field(default_factory=set)
    callbacks: dict[str, Callable[..., None]] = field(default_factory=dict)
    on_idle: Callable[[], None] | None = None
    idle: int = 0

    def subscribe(self, topics: list[str], **callbacks: Callable[..., None]) -> None:
        self.callbacks = callbacks
        callbacks["on_assign"](self, [TopicPartition(TOPIC, 0)])

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        if (TOPIC, 0) in self.paused:
            return []
        if not self.messages:
            self.idle += 1
            if self.idle > 200 and self.on_idle:
                self.on_idle()
            return []
        taken, self.messages = self.messages[:num_messages], self.messages[num_messages:]
        return taken

    def pause(self, partitions: Sequence[TopicPartition]) -> None:
        self.paused.update((tp.topic, tp.partition) for tp in partitions)

    def resume(self, partitions: Sequence[TopicPartition]) -> None:
        self.paused.difference_update((tp.topic, tp.partition) for tp in partitions)

    def committed(self, partitions: Sequence[TopicPartition], timeout: float) -> list[TopicPartition]:
        return list(partitions)

    def close(self) -> None:
        self.callbacks["on_revoke"](self, [TopicPartition(TOPIC, 0)])


class Model:
    def forget_version(self) -> None:
        pass

    def submit(self, pairs: Sequence[tuple[str, str]], on_done: Callable[[InferenceOutcome], None]) -> None:
        on_done(InferenceOutcome(np.zeros(len(pairs)), "1", 1.0, None))


@dataclass
class Sink:
    fenced: bool = False
    commits: list[BatchOutputs] = field(default_factory=list)
    attempts: int = 0

    def start(self) -> None:
        pass

    def commit(self, outputs: BatchOutputs, positions: dict[tuple[str, int], int]) -> None:
        self.attempts += 1
        if self.fenced:
            raise ProducerFencedError("producer fenced")
        self.commits.append(outputs)

    def abort_if_open(self) -> None:
        pass


def event(index: int) -> bytes:
    return encode_record(
        ChatEvent(
            event_id=f"e{index}", conversation_id="c", user_id="u", role=ChatRole.USER, text="你好", created_at_ms=1
        )
    )


def worker(consumer: Consumer, sink: Sink) -> ModerationWorker:
    instance = ModerationWorker(
        WorkerSettings(worker_id="w", batch_max_size=4, batch_max_wait_ms=1, commit_interval_ms=1, drain_timeout_s=2),
        TritonSettings(retry_initial_s=0.001, retry_max_s=0.002),
        AuditSettings(url="sqlite://", retry_initial_s=0.001, retry_max_s=0.002),
        TOPIC,
        consumer,  # type: ignore[arg-type]
        sink,  # type: ignore[arg-type]
        Model(),  # type: ignore[arg-type]
        ChatEventDecoder().decode,
        OutputStamp("guard", Policy("p1", 0.5, 0.3), "w", 16),
    )
    consumer.on_idle = instance.stop
    return instance


def test_partitions_lost_while_paused_are_resumed_so_they_fetch_when_assigned_again() -> None:
    consumer = Consumer()
    instance = worker(consumer, Sink())
    partition = [TopicPartition(TOPIC, 0)]
    instance._on_assign(consumer, partition)  # type: ignore[arg-type]
    instance._paused = True
    consumer.pause(partition)
    instance._on_lost(consumer, partition)  # type: ignore[arg-type]
    instance._flow_control()  # the loop's next step: the window is empty, nothing stays paused
    instance._on_assign(consumer, partition)  # type: ignore[arg-type]
    assert consumer.paused == set()  # librdkafka would otherwise keep them paused for good


def test_a_fenced_sink_abandons_uncommitted_work_without_retrying_it_on_shutdown() -> None:
    consumer = Consumer([Message(event(i), i) for i in range(8)])
    sink = Sink(fenced=True)
    with pytest.raises(ProducerFencedError):
        worker(consumer, sink).run()
    assert sink.attempts == 1  # neither the shutdown drain nor the revoke commits as a zombie


def test_a_record_with_huge_headers_is_dead_lettered_and_the_next_one_gets_a_verdict() -> None:
    huge = [(f"x-{i}", b"h" * 32 * 1024) for i in range(4)]
    consumer = Consumer([Message(event(0), 0, huge), Message(event(1), 1, [("traceparent", b"bad")])])
    sink = Sink()
    worker(consumer, sink).run()
    letters = [letter for outputs in sink.commits for _, letter in outputs.dead_letters]
    verdicts = [verdict.event_id for outputs in sink.commits for _, _, verdict in outputs.verdicts]
    assert [letter.kind for letter in letters] == ["headers_too_large"] and letters[0].source_offset == 0
    assert verdicts == ["e1"]


@dataclass
class DownSink(Sink):
    """The audit store is down for ``down_s``; remembers the largest batch of outputs it was handed."""

    down_s: float = 0.5
    largest: int = 0
    began: float = field(default_factory=lambda: __import__("time").monotonic())

    def commit(self, outputs: BatchOutputs, positions: dict[tuple[str, int], int]) -> None:
        import time

        from guardstream.errors import RetriableError

        self.largest = max(self.largest, len(outputs.verdicts) + len(outputs.dead_letters))
        if time.monotonic() - self.began < self.down_s:
            raise RetriableError("audit store unavailable")
        self.commits.append(outputs)


def test_a_long_database_outage_holds_no_more_than_the_window_in_memory() -> None:
    consumer = Consumer([Message(event(i), i) for i in range(400)])
    sink = DownSink()
    instance = worker(consumer, sink)
    instance.run()
    verdicts = [verdict.event_id for outputs in sink.commits for _, _, verdict in outputs.verdicts]
    assert len(verdicts) == 400  # nothing lost once it is back
    window = 2 * 4 * 4  # batches of 4, 2 × max_in_flight (4) of them
    assert sink.largest <= 2 * window  # what is waiting plus one window's finished prefix, not the backlog
