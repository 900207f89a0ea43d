"""The demo compares the served verdicts with the load generator's own labels."""

from __future__ import annotations

import pytest

from devtools.demo.summary import against_truth
from guardstream.records import Verdict, VerdictLabel


def verdict(event_id: str, label: VerdictLabel) -> Verdict:
    return Verdict(
        event_id=event_id,
        conversation_id="c",
        user_id="u",
        label=label,
        p_unsafe=0.5,
        model_name="m",
        model_version="1",
        policy_version="p",
        event_created_at_ms=0,
        verdict_at_ms=1,
        queue_ms=0.0,
        inference_ms=0.0,
        end_to_end_ms=1.0,
        source_topic="t",
        source_partition=0,
        source_offset=0,
    )


def test_shares_agreement_and_ratio() -> None:
    expected = {"a": "unsafe", "b": "unsafe", "c": "safe", "d": "safe", "e": "safe"}
    verdicts = [
        verdict("a", VerdictLabel.UNSAFE),
        verdict("b", VerdictLabel.REVIEW),
        verdict("c", VerdictLabel.UNSAFE),
        verdict("d", VerdictLabel.SAFE),
        verdict("e", VerdictLabel.SAFE),
        verdict("not-produced", VerdictLabel.UNSAFE),
    ]
    truth = against_truth(verdicts, expected)
    assert truth.true_unsafe_share == pytest.approx(2 / 5)
    assert truth.served_unsafe_share == pytest.approx(2 / 5)
    assert truth.agreement == pytest.approx(4 / 5)  # review counts as flagged; c is the one miss
    assert truth.ratio == pytest.approx(1.0)
