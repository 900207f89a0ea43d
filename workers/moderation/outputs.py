"""Turn a finished batch into its output records: verdicts (some flagged) and dead letters.

The policy is applied here, once: it labels each verdict and decides which need a person
(:attr:`BatchOutputs.flagged`); the sink produces what it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from guardstream.audit.duplicates import Duplicate, source_position
from guardstream.audit.shadow import ShadowDecision
from guardstream.blocklist.screening import (
    BLOCKLIST_MODEL_NAME,
    FALLBACK_MODEL_NAME,
    Screening,
    fall_back,
    judge,
)
from guardstream.errors import PoisonInputError
from guardstream.policy import Policy
from guardstream.records import CategoryScore, ChatEvent, DeadLetter, Decider, GuardStage, Verdict
from workers.moderation.batch import Batch, Consumed
from workers.moderation.screening import screens_for


@dataclass(slots=True)
class BatchOutputs:
    verdicts: list[tuple[Consumed, ChatEvent, Verdict]] = field(default_factory=list)
    flagged: list[tuple[Consumed, ChatEvent, Verdict]] = field(default_factory=list)
    """The verdicts that need a person (unsafe or uncertain): also produced to ``moderation.flagged``."""
    dead_letters: list[tuple[Consumed, DeadLetter]] = field(default_factory=list)
    duplicates: list[tuple[Consumed, Duplicate]] = field(default_factory=list)
    """Verdicts set aside: their event already has a verdict from another source position."""
    shadows: list[ShadowDecision] = field(default_factory=list)
    """The shadow policy's decisions on the verdicts' events: for the audit store only."""
    revisions: list[tuple[Consumed, ChatEvent, Verdict]] = field(default_factory=list)
    """The model's verdicts (revision 1) on events read from the rejudge topic."""
    rejudge: list[tuple[Consumed, ChatEvent]] = field(default_factory=list)
    """Events to judge again when the model returns: produced to the rejudge topic."""

    def extend(self, other: BatchOutputs) -> None:
        self.verdicts.extend(other.verdicts)
        self.flagged.extend(other.flagged)
        self.dead_letters.extend(other.dead_letters)
        self.duplicates.extend(other.duplicates)
        self.shadows.extend(other.shadows)
        self.revisions.extend(other.revisions)
        self.rejudge.extend(other.rejudge)

    def set_aside(self, duplicates: Sequence[Duplicate]) -> None:
        """Move the verdicts read at the positions of ``duplicates`` out of :attr:`verdicts`."""
        if not duplicates:
            return
        by_position = {duplicate.position: duplicate for duplicate in duplicates}
        kept = []
        for entry, event, verdict in self.verdicts:
            duplicate = by_position.get(source_position(verdict))
            if duplicate is None:
                kept.append((entry, event, verdict))
            else:
                self.duplicates.append((entry, duplicate))
        self._keep(kept)

    def reject(self, refused: Mapping[int, PoisonInputError], stamp: OutputStamp, now_ms: int) -> None:
        """Turn the verdicts at the indexes of ``refused`` into dead letters with those reasons."""
        kept = []
        for index, (entry, event, verdict) in enumerate(self.verdicts):
            poison = refused.get(index)
            if poison is None:
                kept.append((entry, event, verdict))
                continue
            self.dead_letters.append((entry, dead_letter(entry, poison, stamp, now_ms)))
        self._keep(kept)

    def _keep(self, verdicts: list[tuple[Consumed, ChatEvent, Verdict]]) -> None:
        """Keep ``verdicts`` only (a subset of :attr:`verdicts`); :attr:`flagged` follows."""
        kept = {source_position(verdict) for _, _, verdict in verdicts}
        dropped = {source_position(verdict) for _, _, verdict in self.verdicts} - kept
        self.flagged = [item for item in self.flagged if source_position(item[2]) in kept]
        events = {verdict.event_id for _, _, verdict in verdicts}
        self.shadows = [decision for decision in self.shadows if decision.event_id in events]
        self.rejudge = [
            item for item in self.rejudge if (item[0].topic, item[0].partition, item[0].offset) not in dropped
        ]
        self.verdicts = verdicts


@dataclass(frozen=True, slots=True)
class OutputStamp:
    """What every output record of this worker carries besides the batch's own data."""

    model_name: str
    policy: Policy
    worker_id: str
    dlq_payload_max_bytes: int
    fast_model_name: str | None = None
    """The cascade's first stage, when a cascade judges (``model_name`` is then the generative guard)."""
    shadow: Policy | None = None
    """An observe-only policy judged beside ``policy``: its decisions go to the audit store only."""


def build_outputs(batch: Batch, stamp: OutputStamp, now_ms: int) -> BatchOutputs:
    outputs = BatchOutputs()
    submitted_at = batch.submitted_at if batch.submitted_at is not None else batch.sealed_at
    scored = set(batch.inferable)
    for index, entry in enumerate(batch.entries):
        poison = batch.poison(index)
        if poison is not None or entry.event is None:
            outputs.dead_letters.append((entry, dead_letter(entry, poison, stamp, now_ms)))
            continue
        event = entry.event
        screens = batch.screens.get(index) or screens_for([], event.metadata, stamp.policy, stamp.shadow)
        if index in batch.fallen and screens.revising:
            outputs.rejudge.append((entry, event))  # still no model: its fallback verdict stands, try again
            continue
        p_model = float(batch.scores[index]) if index in scored and index not in batch.fallen else None
        named = batch.categories.get(index)
        judged = fall_back(screens.acting) if index in batch.fallen else judge(screens.acting, p_model, named)
        cascade = batch.cascade.get(index) if judged.decided_by is Decider.MODEL else None
        model_name, model_version = stamp.model_name, batch.model_version
        if judged.deciding is not None:
            model_name = BLOCKLIST_MODEL_NAME
            model_version = f"{judged.deciding.list_name}@{judged.deciding.list_version}"
        elif judged.decided_by is Decider.FALLBACK:
            model_name, model_version = FALLBACK_MODEL_NAME, ""
        elif cascade is not None and cascade.stage is GuardStage.FAST and stamp.fast_model_name:
            model_name = stamp.fast_model_name
        elif cascade is not None:
            model_version = batch.generative_version
        verdict = Verdict(
            event_id=event.event_id,
            conversation_id=event.conversation_id,
            user_id=event.user_id,
            label=judged.label,
            p_unsafe=judged.p_unsafe,
            categories=(CategoryScore(category=judged.category[0], score=judged.category[1]),)
            if judged.category
            else (),
            analysis=None,
            model_name=model_name,
            model_version=model_version,
            policy_version=screens.acting.policy.version,
            event_created_at_ms=event.created_at_ms,
            verdict_at_ms=now_ms,
            queue_ms=max(0.0, (submitted_at - entry.consumed_at) * 1000.0),
            inference_ms=batch.inference_ms if judged.decided_by is Decider.MODEL else 0.0,
            end_to_end_ms=float(now_ms - event.created_at_ms),
            trace_id=entry.trace_id,
            source_topic=entry.topic,
            source_partition=entry.partition,
            source_offset=entry.offset,
            stage=cascade.stage if cascade is not None else None,
            p_unsafe_fast=cascade.p_fast if cascade is not None else None,
            p_unsafe_generative=cascade.p_generative if cascade is not None else None,
            policy_id=screens.acting.policy.id,
            decided_by=judged.decided_by,
            blocklist_hits=judged.hits,
            revision=1 if screens.revising else 0,
        )
        if screens.revising:
            outputs.revisions.append((entry, event, verdict))
            continue
        outputs.verdicts.append((entry, event, verdict))
        if stamp.policy.needs_person(judged.label):
            outputs.flagged.append((entry, event, verdict))
        if judged.decided_by is Decider.FALLBACK:
            outputs.rejudge.append((entry, event))
        elif screens.shadow is not None and (p_model is not None or not screens.shadow.needs_model):
            outputs.shadows.append(_shadow_decision(screens.shadow, p_model, named, verdict, now_ms))
    return outputs


def _shadow_decision(
    screening: Screening, p_model: float | None, named: tuple[str, float] | None, acting: Verdict, now_ms: int
) -> ShadowDecision:
    judged = judge(screening, p_model, named)
    return ShadowDecision(
        event_id=acting.event_id,
        policy_id=screening.policy.id,
        policy_version=screening.policy.version,
        label=judged.label,
        p_unsafe=judged.p_unsafe,
        decided_by=judged.decided_by,
        blocklist_hits=judged.hits,
        acting_policy_id=str(acting.policy_id),
        acting_label=acting.label,
        decided_at_ms=now_ms,
    )


def dead_letter(entry: Consumed, poison: PoisonInputError | None, stamp: OutputStamp, now_ms: int) -> DeadLetter:
    """The dead letter of ``entry``, refused for ``poison``."""
    kind, reason = ("unknown", "no reason recorded") if poison is None else (poison.kind, poison.reason)
    return DeadLetter.refused(
        (entry.topic, entry.partition, entry.offset),
        entry.key,
        entry.payload or b"",
        kind,
        reason,
        max_payload_bytes=stamp.dlq_payload_max_bytes,
        failed_at_ms=now_ms,
        worker_id=stamp.worker_id,
        event_id=entry.event.event_id if entry.event is not None else None,
    )
