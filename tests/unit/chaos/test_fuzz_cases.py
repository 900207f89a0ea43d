"""The fuzz scenario's cases through the worker loop (in-memory Kafka, model and sink): each gets
the fate the limits give it, so the chaos run can hold the real worker to the same expectations."""

from __future__ import annotations

from collections import Counter

from devtools.chaos.fuzz import fuzz_cases
from devtools.chaos.fuzz_ids import reviewable_ids
from guardstream.limits import ID_CHARS, id_violation
from tests.support.kafka_fakes import FakeMessage
from tests.support.worker_fakes import FakeConsumer, FakeModel, FakeSink, fake_worker

CASES = fuzz_cases(seed=3, tag="t")


def test_every_case_gets_its_fate_a_verdict_or_a_dead_letter_of_its_kind() -> None:
    sink = FakeSink()
    messages = [FakeMessage(case.value, offset, case.headers, _key=case.key) for offset, case in enumerate(CASES)]
    fake_worker(FakeConsumer(messages), sink, FakeModel()).run()
    fates: dict[int, str | None] = {}
    verdict_ids: dict[int, str] = {}
    for outputs in sink.commits:
        for entry, _, verdict in outputs.verdicts:
            fates[entry.offset], verdict_ids[entry.offset] = None, verdict.event_id
        for entry, letter in outputs.dead_letters:
            fates[entry.offset] = letter.kind
    wrong = [(case.name, case.expected_kind, fates.get(offset, "nothing")) for offset, case in enumerate(CASES)
             if fates.get(offset, "nothing") != case.expected_kind]  # fmt: skip
    assert wrong == []
    assert all(verdict_ids[offset] == case.event_id for offset, case in enumerate(CASES) if case.expected_kind is None)


def test_the_cases_cover_every_rule_at_and_past_its_limit() -> None:
    kinds = Counter(case.expected_kind for case in CASES)
    assert {"field_too_long", "text_too_long", "nul_bytes", "control_characters", "invalid_utf8", "empty_field",
            "empty_text", "invalid_value", "key_too_large", "wrong_type", "unknown_format"} <= set(kinds)  # fmt: skip
    assert kinds[None] > 300
    names = {case.name for case in CASES}
    assert {f"{field}_{where}_limit" for field in ("event_id", "text", "locale") for where in ("at", "past")} <= names
    verdict_ids = [case.event_id for case in CASES if case.expected_kind is None]
    assert len(verdict_ids) == len(set(verdict_ids)), "every event that gets a verdict has an id of its own"


def test_reviewable_ids_are_distinct_accepted_and_reach_the_limit() -> None:
    bare, tagged = reviewable_ids(), reviewable_ids("run-7")
    for ids in (bare, tagged):
        assert len(ids) == len(set(ids)) > 200
        assert [value for value in ids if id_violation(value) is not None] == []
        assert max(map(len, ids)) == ID_CHARS
    assert {".", "..", "/", "%2F"} <= set(bare)
    assert all("run-7" in value for value in tagged)
    assert reviewable_ids("run-7") == tagged  # the same for the same arguments: a browser test can list them
