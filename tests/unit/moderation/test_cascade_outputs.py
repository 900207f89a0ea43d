"""Verdicts say which cascade stage decided, with both stages' scores and the deciding model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from guardstream.policy import Policy
from guardstream.records import GuardStage, Verdict, VerdictLabel
from guardstream.serde.codec import decode_record, encode_record
from tests.unit.moderation.test_batching import consumed
from workers.moderation.batch import Batch
from workers.moderation.outputs import OutputStamp, build_outputs
from workers.triton_client import CascadeScore

STAMP = OutputStamp(
    model_name="guard",
    policy=Policy("p1", 0.5, 0.35),
    worker_id="w",
    dlq_payload_max_bytes=100,
    fast_model_name="guard_fast",
)


def test_each_verdict_names_its_deciding_stage_model_and_both_scores() -> None:
    batch = Batch(seq=1, entries=[consumed(0), consumed(1), consumed(2)], sealed_at=0.0)
    batch.complete(
        (0, 3),
        np.array([0.9, 0.2, 0.1]),
        "3",
        12.0,
        cascade=[
            CascadeScore(GuardStage.FAST, 0.9, None),
            CascadeScore(GuardStage.GENERATIVE, 0.55, 0.2),
            CascadeScore(GuardStage.FAST, 0.1, None),
        ],
        generative_version="7",
    )
    verdicts = [verdict for _, _, verdict in build_outputs(batch, STAMP, now_ms=10).verdicts]
    assert [(v.label, v.stage, v.model_name, v.model_version) for v in verdicts] == [
        (VerdictLabel.UNSAFE, GuardStage.FAST, "guard_fast", "3"),
        (VerdictLabel.SAFE, GuardStage.GENERATIVE, "guard", "7"),
        (VerdictLabel.SAFE, GuardStage.FAST, "guard_fast", "3"),
    ]
    assert [(v.p_unsafe, v.p_unsafe_fast, v.p_unsafe_generative) for v in verdicts] == [
        (0.9, 0.9, None),
        (0.2, 0.55, 0.2),
        (0.1, 0.1, None),
    ]


def test_cascade_fields_survive_the_wire_and_a_single_model_leaves_them_empty() -> None:
    batch = Batch(seq=1, entries=[consumed(0)], sealed_at=0.0)
    batch.complete((0, 1), np.array([0.4]), "2", 5.0)
    single = build_outputs(batch, STAMP, now_ms=10).verdicts[0][2]
    assert (single.stage, single.p_unsafe_fast, single.p_unsafe_generative, single.model_name) == (
        None,
        None,
        None,
        "guard",
    )
    judged = replace(single, stage=GuardStage.GENERATIVE, p_unsafe_fast=0.45, p_unsafe_generative=0.4)
    for verdict in (single, judged):
        assert decode_record(Verdict, encode_record(verdict)) == verdict
