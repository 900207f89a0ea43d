"""A finished batch's outputs: the policy decides once which verdicts are flagged, and a verdict
taken out afterwards (refused by the audit store, or a duplicate) leaves the flagged list too."""

from __future__ import annotations

import numpy as np

from guardstream.audit.duplicates import Duplicate
from guardstream.errors import PoisonInputError
from guardstream.policy import Policy
from guardstream.records import ChatEvent, Verdict
from tests.support.consumed_records import consumed
from workers.moderation.batch import Batch, Consumed
from workers.moderation.outputs import BatchOutputs, OutputStamp, build_outputs

STAMP = OutputStamp("guard", Policy("p1", 0.5, 0.3), "w", 16)


def outputs(*scores: float) -> BatchOutputs:
    """The outputs of records 0, 1, … judged ``scores``."""
    batch = Batch(0, [consumed(offset) for offset in range(len(scores))], 0.0)
    batch.complete((0, len(scores)), np.array(scores), "1", 1.0)
    return build_outputs(batch, STAMP, 1)


def offsets(verdicts: list[tuple[Consumed, ChatEvent, Verdict]]) -> list[int]:
    return [entry.offset for entry, _, _ in verdicts]


def test_unsafe_and_uncertain_verdicts_are_flagged_safe_ones_are_not() -> None:
    built = outputs(0.9, 0.1, 0.4, 0.5)
    assert [verdict.label.value for _, _, verdict in built.verdicts] == ["unsafe", "safe", "review", "unsafe"]
    assert offsets(built.flagged) == [0, 2, 3]


def test_a_flagged_verdict_the_audit_store_refuses_is_dead_lettered_and_no_longer_flagged() -> None:
    built = outputs(0.9, 0.1, 0.4)
    built.reject({2: PoisonInputError("audit_rejected", "value too long")}, STAMP, 1)
    assert offsets(built.verdicts) == [0, 1] and offsets(built.flagged) == [0]
    [(entry, letter)] = built.dead_letters
    assert (entry.offset, letter.kind, letter.reason) == (2, "audit_rejected", "value too long")
    assert entry.poison is None  # the record as read is not rewritten: the dead letter carries the reason


def test_a_flagged_duplicate_is_set_aside_and_no_longer_flagged() -> None:
    built = outputs(0.9, 0.9)
    built.set_aside([Duplicate("e0-1", ("chat.events", 0, 1), ("chat.events", 3, 7), 1)])
    assert offsets(built.verdicts) == [0] and offsets(built.flagged) == [0]
    assert [entry.offset for entry, _ in built.duplicates] == [1]


def test_extending_outputs_keeps_their_flagged_verdicts() -> None:
    first, second = outputs(0.9), outputs(0.1, 0.9)
    first.extend(second)
    assert offsets(first.verdicts) == [0, 0, 1] and offsets(first.flagged) == [0, 1]
