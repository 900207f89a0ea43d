"""The worker loop with in-memory fakes of Kafka, Triton and the sink: the semantics, not the I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from guardstream.errors import RetriableError
from guardstream.guard.categories import HarmCategory
from guardstream.limits import KEY_BYTES
from guardstream.policy import Policy, Thresholds
from guardstream.records import ChatEvent, ChatRole
from guardstream.serde.codec import ChatEventDecoder, encode_record
from guardstream.settings import AuditSettings, TritonSettings, WorkerSettings
from tests.support.kafka_fakes import FakeMessage
from workers.moderation.outputs import BatchOutputs, OutputStamp
from workers.moderation.worker import ModerationWorker
from workers.triton_client import InferenceOutcome


@dataclass
class FakeConsumer:
    messages: list[FakeMessage]
    stop_when_idle: Callable[[], None] | None = None
    paused: bool = False
    idle_polls: int = 0

    def subscribe(self, topics: list[str], **callbacks: object) -> None:
        on_assign = callbacks["on_assign"]
        on_assign(self, [])  # type: ignore[operator]

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        if self.paused or not self.messages:
            self.idle_polls += 1
            if self.idle_polls > 200 and self.stop_when_idle:
                self.stop_when_idle()
            return []
        taken, self.messages = self.messages[:num_messages], self.messages[num_messages:]
        return taken

    def pause(self, partitions: object) -> None:
        self.paused = True

    def resume(self, partitions: object) -> None:
        self.paused = False

    def close(self) -> None:
        pass


@dataclass
class FakeModel:
    """Answers p_unsafe = len(question) / 100; fails the first ``outages`` calls as unavailable."""

    outages: int = 0
    calls: int = 0
    category: tuple[str, float] | None = None

    def forget_version(self) -> None:
        pass

    def submit(self, pairs: Sequence[tuple[str, str]], on_done: Callable[[InferenceOutcome], None]) -> None:
        self.calls += 1
        if self.outages:
            self.outages -= 1
            on_done(InferenceOutcome(None, "", 1.0, RetriableError("Triton unavailable")))
            return
        scores = np.array([min(1.0, len(question) / 100) for question, _ in pairs])
        on_done(InferenceOutcome(scores, "3", 1.0, None, [self.category] * len(pairs) if self.category else None))


@dataclass
class FakeSink:
    audit_outages: int = 0
    commits: list[tuple[BatchOutputs, dict[tuple[str, int], int]]] = field(default_factory=list)

    def start(self) -> None:
        pass

    def commit(self, outputs: BatchOutputs, positions: dict[tuple[str, int], int]) -> None:
        if self.audit_outages:
            self.audit_outages -= 1
            raise RetriableError("audit store unavailable")
        self.commits.append((outputs, dict(positions)))

    def abort_if_open(self) -> None:
        pass


def event(index: int, text: str = "你好") -> bytes:
    return encode_record(
        ChatEvent(
            event_id=f"e{index}",
            conversation_id="c",
            user_id="u",
            role=ChatRole.USER,
            text=text,
            created_at_ms=1,
        )
    )


def run_worker(
    messages: list[FakeMessage], model: FakeModel, sink: FakeSink, policy: Policy | None = None, **worker: object
) -> ModerationWorker:
    consumer = FakeConsumer(messages)
    settings = WorkerSettings(
        worker_id="w",
        batch_max_size=4,
        batch_max_wait_ms=1,
        commit_interval_ms=1,
        **worker,  # type: ignore[arg-type]
    )
    instance = ModerationWorker(
        settings,
        TritonSettings(retry_initial_s=0.001, retry_max_s=0.002),
        AuditSettings(url="sqlite://", retry_initial_s=0.001, retry_max_s=0.002),
        "chat.events",
        consumer,  # type: ignore[arg-type]
        sink,  # type: ignore[arg-type]
        model,  # type: ignore[arg-type]
        ChatEventDecoder().decode,
        OutputStamp("guard", policy or Policy("p1", 0.5, 0.3), "w", 16),
    )
    consumer.stop_when_idle = instance.stop
    instance.run()
    return instance


def committed(sink: FakeSink) -> tuple[dict[str, float], list[str], dict[tuple[str, int], int]]:
    scores = {v.event_id: v.p_unsafe for outputs, _ in sink.commits for _, _, v in outputs.verdicts}
    kinds = [letter.kind for outputs, _ in sink.commits for _, letter in outputs.dead_letters]
    positions: dict[tuple[str, int], int] = {}
    for _, moved in sink.commits:
        positions.update(moved)
    return scores, kinds, positions


def test_every_record_gets_a_verdict_or_a_dead_letter_and_offsets_move_past_both() -> None:
    payloads: list[bytes | None] = [event(i) for i in range(10)]
    payloads.insert(3, b"\xc3\x01garbage")
    payloads.insert(7, None)
    messages = [FakeMessage(payload, offset) for offset, payload in enumerate(payloads)]
    sink = FakeSink()
    run_worker(messages, FakeModel(), sink)
    scores, kinds, positions = committed(sink)
    assert sorted(scores) == sorted(f"e{i}" for i in range(10))
    assert len(kinds) == 2 and "empty_payload" in kinds
    assert positions == {("chat.events", 0): 12}


def test_a_key_too_large_for_a_record_makes_it_poison_and_its_dead_letter_carries_the_key_cut() -> None:
    messages = [FakeMessage(event(0), 0, _key=b"k" * (KEY_BYTES + 1)), FakeMessage(event(1), 1, _key=b"k" * KEY_BYTES)]
    sink = FakeSink()
    run_worker(messages, FakeModel(), sink)
    scores, kinds, _ = committed(sink)
    assert (list(scores), kinds) == (["e1"], ["key_too_large"])
    [letter] = [letter for outputs, _ in sink.commits for _, letter in outputs.dead_letters]
    assert letter.key == b"k" * KEY_BYTES


def test_triton_outage_is_retried_never_skipped() -> None:
    model = FakeModel(outages=5)
    sink = FakeSink()
    worker = run_worker([FakeMessage(event(i), i) for i in range(6)], model, sink)
    scores, kinds, _ = committed(sink)
    assert len(scores) == 6 and kinds == []
    assert model.calls >= 7
    assert worker.health.triton == "ok"


def test_audit_outage_delays_the_commit_and_loses_nothing() -> None:
    sink = FakeSink(audit_outages=3)
    worker = run_worker([FakeMessage(event(i), i) for i in range(9)], FakeModel(), sink)
    scores, _, positions = committed(sink)
    assert len(scores) == 9
    assert positions == {("chat.events", 0): 9}
    assert worker.health.audit == "ok"


def test_policy_labels_are_stamped_with_model_and_policy_versions() -> None:
    sink = FakeSink()
    run_worker([FakeMessage(event(0, "短"), 0), FakeMessage(event(1, "长" * 80), 1)], FakeModel(), sink)
    verdicts = {v.event_id: v for outputs, _ in sink.commits for _, _, v in outputs.verdicts}
    assert verdicts["e0"].label.value == "safe" and verdicts["e1"].label.value == "unsafe"
    assert {v.model_version for v in verdicts.values()} == {"3"}
    assert {v.policy_version for v in verdicts.values()} == {"p1"}


def test_a_named_category_is_stamped_and_its_thresholds_apply() -> None:
    strict = Thresholds(unsafe_threshold=0.1, review_threshold=0.05)
    policy = Policy("p2", 0.5, 0.3, {HarmCategory.PRIVACY_PROPERTY: strict})
    sink = FakeSink()
    model = FakeModel(category=("privacy_property", 0.8))
    run_worker([FakeMessage(event(0, "短" * 20), 0)], model, sink, policy=policy)
    (verdict,) = [v for outputs, _ in sink.commits for _, _, v in outputs.verdicts]
    assert verdict.p_unsafe == 0.2 and verdict.label.value == "unsafe"
    assert [(c.category, c.score) for c in verdict.categories] == [("privacy_property", 0.8)]
