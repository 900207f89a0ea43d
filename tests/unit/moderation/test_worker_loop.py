"""The worker loop with in-memory fakes of Kafka, Triton and the sink: the semantics, not the I/O."""

from __future__ import annotations

from guardstream.guard.categories import HarmCategory
from guardstream.limits import KEY_BYTES
from guardstream.policy import Policy, Thresholds
from tests.support.kafka_fakes import FakeMessage
from tests.support.worker_fakes import FakeConsumer, FakeModel, FakeSink, chat_event, fake_worker


def committed(sink: FakeSink) -> tuple[dict[str, float], list[str], dict[tuple[str, int], int]]:
    scores = {v.event_id: v.p_unsafe for outputs in sink.commits for _, _, v in outputs.verdicts}
    kinds = [letter.kind for outputs in sink.commits for _, letter in outputs.dead_letters]
    positions: dict[tuple[str, int], int] = {}
    for moved in sink.positions:
        positions.update(moved)
    return scores, kinds, positions


def test_every_record_gets_a_verdict_or_a_dead_letter_and_offsets_move_past_both(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    payloads: list[bytes | None] = [chat_event(i) for i in range(10)]
    payloads.insert(3, b"\xc3\x01garbage")
    payloads.insert(7, None)
    fake_consumer.messages = [FakeMessage(payload, offset) for offset, payload in enumerate(payloads)]
    fake_worker(fake_consumer, fake_sink, fake_model).run()
    scores, kinds, positions = committed(fake_sink)
    assert sorted(scores) == sorted(f"e{i}" for i in range(10))
    assert len(kinds) == 2 and "empty_payload" in kinds
    assert positions == {("chat.events", 0): 12}


def test_a_key_too_large_for_a_record_makes_it_poison_and_its_dead_letter_carries_the_key_cut(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    fake_consumer.messages = [
        FakeMessage(chat_event(0), 0, _key=b"k" * (KEY_BYTES + 1)),
        FakeMessage(chat_event(1), 1, _key=b"k" * KEY_BYTES),
    ]
    fake_worker(fake_consumer, fake_sink, fake_model).run()
    scores, kinds, _ = committed(fake_sink)
    assert (list(scores), kinds) == (["e1"], ["key_too_large"])
    [letter] = [letter for outputs in fake_sink.commits for _, letter in outputs.dead_letters]
    assert letter.key == b"k" * KEY_BYTES


def test_triton_outage_is_retried_never_skipped(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    fake_model.outages = 5
    fake_consumer.messages = [FakeMessage(chat_event(i), i) for i in range(6)]
    worker = fake_worker(fake_consumer, fake_sink, fake_model)
    worker.run()
    scores, kinds, _ = committed(fake_sink)
    assert len(scores) == 6 and kinds == []
    assert fake_model.calls >= 7
    assert worker.health.triton == "ok"


def test_audit_outage_delays_the_commit_and_loses_nothing(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    fake_sink.outages = 3
    fake_consumer.messages = [FakeMessage(chat_event(i), i) for i in range(9)]
    worker = fake_worker(fake_consumer, fake_sink, fake_model)
    worker.run()
    scores, _, positions = committed(fake_sink)
    assert len(scores) == 9
    assert positions == {("chat.events", 0): 9}
    assert worker.health.audit == "ok"


def test_policy_labels_are_stamped_with_model_and_policy_versions(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    fake_consumer.messages = [FakeMessage(chat_event(0, "短"), 0), FakeMessage(chat_event(1, "长" * 80), 1)]
    fake_worker(fake_consumer, fake_sink, fake_model).run()
    verdicts = {v.event_id: v for outputs in fake_sink.commits for _, _, v in outputs.verdicts}
    assert verdicts["e0"].label.value == "safe" and verdicts["e1"].label.value == "unsafe"
    assert {v.model_version for v in verdicts.values()} == {"3"}
    assert {v.policy_version for v in verdicts.values()} == {"p1"}
    flagged = [v.event_id for outputs in fake_sink.commits for _, _, v in outputs.flagged]
    assert flagged == ["e1"]  # the outputs say which verdicts need a person; the sink decides nothing


def test_a_named_category_is_stamped_and_its_thresholds_apply(
    fake_consumer: FakeConsumer, fake_sink: FakeSink, fake_model: FakeModel
) -> None:
    strict = Thresholds(unsafe_threshold=0.1, review_threshold=0.05)
    policy = Policy("p2", 0.5, 0.3, {HarmCategory.PRIVACY_PROPERTY: strict})
    fake_model.category = ("privacy_property", 0.8)
    fake_consumer.messages = [FakeMessage(chat_event(0, "短" * 20), 0)]
    fake_worker(fake_consumer, fake_sink, fake_model, policy=policy).run()
    (verdict,) = [v for outputs in fake_sink.commits for _, _, v in outputs.verdicts]
    assert verdict.p_unsafe == 0.2 and verdict.label.value == "unsafe"
    assert [(c.category, c.score) for c in verdict.categories] == [("privacy_property", 0.8)]
