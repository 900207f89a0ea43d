"""Turn a finished batch into its output records: verdicts (some flagged) and dead letters.

The policy is applied here, once: it labels each verdict and decides which need a person
(:attr:`BatchOutputs.flagged`); the sink produces what it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from guardstream.audit.duplicates import Duplicate, source_position
from guardstream.errors import PoisonInputError
from guardstream.guard.categories import HarmCategory
from guardstream.limits import KEY_BYTES, REASON_CHARS
from guardstream.policy import Policy
from guardstream.records import CategoryScore, ChatEvent, DeadLetter, GuardStage, Verdict
from workers.moderation.batch import Batch, Consumed


@dataclass(slots=True)
class BatchOutputs:
    verdicts: list[tuple[Consumed, ChatEvent, Verdict]] = field(default_factory=list)
    flagged: list[tuple[Consumed, ChatEvent, Verdict]] = field(default_factory=list)
    """The verdicts that need a person (unsafe or uncertain): also produced to ``moderation.flagged``."""
    dead_letters: list[tuple[Consumed, DeadLetter]] = field(default_factory=list)
    duplicates: list[tuple[Consumed, Duplicate]] = field(default_factory=list)
    """Verdicts set aside: their event already has a verdict from another source position."""

    def extend(self, other: BatchOutputs) -> None:
        self.verdicts.extend(other.verdicts)
        self.flagged.extend(other.flagged)
        self.dead_letters.extend(other.dead_letters)
        self.duplicates.extend(other.duplicates)

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
        self.flagged = [item for item in self.flagged if source_position(item[2]) in kept]
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


def build_outputs(batch: Batch, stamp: OutputStamp, now_ms: int) -> BatchOutputs:
    outputs = BatchOutputs()
    submitted_at = batch.submitted_at if batch.submitted_at is not None else batch.sealed_at
    for index, entry in enumerate(batch.entries):
        poison = batch.poison(index)
        if poison is not None or entry.event is None:
            outputs.dead_letters.append((entry, dead_letter(entry, poison, stamp, now_ms)))
            continue
        event = entry.event
        p_unsafe = float(batch.scores[index])
        named = batch.categories.get(index)
        category = HarmCategory(named[0]) if named else None
        label = stamp.policy.label(p_unsafe, category)
        judged = batch.cascade.get(index)
        model_name, model_version = stamp.model_name, batch.model_version
        if judged is not None and judged.stage is GuardStage.FAST and stamp.fast_model_name:
            model_name = stamp.fast_model_name
        elif judged is not None:
            model_version = batch.generative_version
        verdict = Verdict(
            event_id=event.event_id,
            conversation_id=event.conversation_id,
            user_id=event.user_id,
            label=label,
            p_unsafe=p_unsafe,
            categories=(CategoryScore(category=named[0], score=named[1]),) if named else (),
            analysis=None,
            model_name=model_name,
            model_version=model_version,
            policy_version=stamp.policy.version,
            event_created_at_ms=event.created_at_ms,
            verdict_at_ms=now_ms,
            queue_ms=max(0.0, (submitted_at - entry.consumed_at) * 1000.0),
            inference_ms=batch.inference_ms,
            end_to_end_ms=float(now_ms - event.created_at_ms),
            trace_id=entry.trace_id,
            source_topic=entry.topic,
            source_partition=entry.partition,
            source_offset=entry.offset,
            stage=judged.stage if judged is not None else None,
            p_unsafe_fast=judged.p_fast if judged is not None else None,
            p_unsafe_generative=judged.p_generative if judged is not None else None,
        )
        outputs.verdicts.append((entry, event, verdict))
        if stamp.policy.needs_person(label):
            outputs.flagged.append((entry, event, verdict))
    return outputs


def dead_letter(entry: Consumed, poison: PoisonInputError | None, stamp: OutputStamp, now_ms: int) -> DeadLetter:
    """The dead letter of ``entry``, refused for ``poison``."""
    payload = entry.payload or b""
    kind, reason = ("unknown", "no reason recorded")
    if poison is not None:
        kind, reason = poison.kind, poison.reason
    return DeadLetter(
        source_topic=entry.topic,
        source_partition=entry.partition,
        source_offset=entry.offset,
        key=entry.key[:KEY_BYTES] if entry.key is not None else None,
        payload=payload[: stamp.dlq_payload_max_bytes],
        payload_size=len(payload),
        payload_truncated=len(payload) > stamp.dlq_payload_max_bytes,
        kind=kind,
        reason=_storable(reason),
        event_id=entry.event.event_id if entry.event is not None else None,
        failed_at_ms=now_ms,
        worker_id=stamp.worker_id,
    )


def _storable(reason: str) -> str:
    """``reason`` as every store takes it: no NUL, no lone surrogate, bounded (it may quote input)."""
    escaped = reason.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return escaped if len(escaped) <= REASON_CHARS else escaped[: REASON_CHARS - 1] + "…"
