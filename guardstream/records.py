"""Domain records: frozen dataclasses that mirror the Avro contracts in ``schemas/``.

Each record knows its Avro full name (``AVRO_NAME``) and converts to and from the plain dicts that
fastavro reads and writes (``to_avro`` / ``from_avro``). ``from_avro`` trusts its input's types:
it is fed by the Avro reader, whose schema already guarantees them; untrusted input goes through
:mod:`guardstream.serde` first, which validates content (empty text, NUL characters, sizes).
Fields are keyword-only, in the order of the schema, so construction reads like the contract.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from guardstream.limits import KEY_BYTES, REASON_CHARS


class ChatRole(StrEnum):
    """Who wrote a chat message."""

    USER = "user"
    ASSISTANT = "assistant"


def guard_pair(role: str, question: str | None, text: str) -> tuple[str, str]:
    """The (question, response) pair the guard model judges for a message ``role`` wrote.

    A user message is judged as a question with an empty response; an assistant reply is judged
    together with the question it answers.
    """
    if role == ChatRole.USER:
        return text, ""
    return question or "", text


class VerdictLabel(StrEnum):
    """Decision after applying the policy thresholds."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    REVIEW = "review"


class GuardStage(StrEnum):
    """Which stage of the guard cascade decided a verdict."""

    FAST = "fast"
    GENERATIVE = "generative"


class Decider(StrEnum):
    """What decided a verdict's label."""

    MODEL = "model"
    """The guard model's score, read through the policy (a blocklist may have raised it)."""
    BLOCKLIST = "blocklist"
    """A term of a blocklist whose hits decide; the model was not asked."""
    FALLBACK = "fallback"
    """The model was away past the policy's deadline: label review, blocklist hits recorded; the
    model's verdict follows as a revision."""


class AnalysisStatus(StrEnum):
    """Whether explain mode could explain a flagged verdict."""

    EXPLAINED = "explained"
    UNAVAILABLE = "unavailable"


class FeedbackLabel(StrEnum):
    """A reviewer's decision."""

    SAFE = "safe"
    UNSAFE = "unsafe"


_ROLES = {role.value: role for role in ChatRole}


def storable(reason: str) -> str:
    """``reason`` as every store takes it: no NUL, no lone surrogate, bounded (it may quote input)."""
    escaped = reason.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return escaped if len(escaped) <= REASON_CHARS else escaped[: REASON_CHARS - 1] + "…"


def millis(value: Any) -> int:
    # The hot path reads timestamp-millis as a plain long; a reader that applies the logical type
    # (e.g. confluent-kafka's AvroDeserializer) hands back an aware datetime instead.
    if isinstance(value, _dt.datetime):
        return round(value.timestamp() * 1000)
    return int(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatEvent:
    """One chat message to moderate (``schemas/chat_event.avsc``)."""

    AVRO_NAME: ClassVar[str] = "guardstream.ChatEvent"

    event_id: str
    conversation_id: str
    user_id: str
    role: ChatRole
    text: str
    question: str | None = None
    context: tuple[str, ...] = ()
    created_at_ms: int
    locale: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def guard_pair(self) -> tuple[str, str]:
        """The (question, response) pair the guard model judges.

        A user message is judged as a question with an empty response; an assistant reply is
        judged together with the question it answers.
        """
        return guard_pair(self.role, self.question, self.text)

    def to_avro(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "conversation_id": self.conversation_id,
            "user_id": self.user_id,
            "role": self.role.value,
            "text": self.text,
            "question": self.question,
            "context": list(self.context),
            "created_at_ms": self.created_at_ms,
            "locale": self.locale,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> ChatEvent:
        return cls(
            event_id=d["event_id"],
            conversation_id=d["conversation_id"],
            user_id=d["user_id"],
            role=_ROLES.get(d["role"]) or ChatRole(d["role"]),
            text=d["text"],
            question=d.get("question"),
            context=tuple(d.get("context") or ()),
            created_at_ms=millis(d["created_at_ms"]),
            locale=d.get("locale"),
            metadata=dict(d.get("metadata") or {}),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoryScore:
    """Score of one harm category (a nested record of Verdict)."""

    AVRO_NAME: ClassVar[str] = "guardstream.CategoryScore"

    category: str
    score: float

    def to_avro(self) -> dict[str, Any]:
        return {"category": self.category, "score": self.score}

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> CategoryScore:
        return cls(category=d["category"], score=d["score"])


@dataclass(frozen=True, slots=True, kw_only=True)
class BlocklistHit:
    """A listed term found in the judged text (``schemas/verdict.avsc``, BlocklistHit)."""

    list_name: str
    list_version: int
    term: str
    category: str
    variant: str

    def to_avro(self) -> dict[str, Any]:
        return {
            "list_name": self.list_name,
            "list_version": self.list_version,
            "term": self.term,
            "category": self.category,
            "variant": self.variant,
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> BlocklistHit:
        return cls(
            list_name=d["list_name"],
            list_version=d["list_version"],
            term=d["term"],
            category=d["category"],
            variant=d["variant"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The moderation decision for one ChatEvent (``schemas/verdict.avsc``)."""

    AVRO_NAME: ClassVar[str] = "guardstream.Verdict"

    event_id: str
    conversation_id: str
    user_id: str
    label: VerdictLabel
    p_unsafe: float
    categories: tuple[CategoryScore, ...] = ()
    analysis: str | None = None
    model_name: str
    model_version: str
    policy_version: str
    event_created_at_ms: int
    verdict_at_ms: int
    queue_ms: float
    inference_ms: float
    end_to_end_ms: float
    trace_id: str | None = None
    source_topic: str
    source_partition: int
    source_offset: int
    stage: GuardStage | None = None
    p_unsafe_fast: float | None = None
    p_unsafe_generative: float | None = None
    policy_id: str | None = None
    decided_by: Decider | None = None
    blocklist_hits: tuple[BlocklistHit, ...] = ()
    revision: int = 0
    """0: the event's verdict; 1: the model's verdict on an event that had a fallback verdict."""

    def to_avro(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "conversation_id": self.conversation_id,
            "user_id": self.user_id,
            "label": self.label.value,
            "p_unsafe": self.p_unsafe,
            "categories": [c.to_avro() for c in self.categories],
            "analysis": self.analysis,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "policy_version": self.policy_version,
            "event_created_at_ms": self.event_created_at_ms,
            "verdict_at_ms": self.verdict_at_ms,
            "queue_ms": self.queue_ms,
            "inference_ms": self.inference_ms,
            "end_to_end_ms": self.end_to_end_ms,
            "trace_id": self.trace_id,
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "stage": self.stage.value if self.stage is not None else None,
            "p_unsafe_fast": self.p_unsafe_fast,
            "p_unsafe_generative": self.p_unsafe_generative,
            "policy_id": self.policy_id,
            "decided_by": self.decided_by.value if self.decided_by is not None else None,
            "blocklist_hits": [hit.to_avro() for hit in self.blocklist_hits],
            "revision": self.revision,
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> Verdict:
        return cls(
            event_id=d["event_id"],
            conversation_id=d["conversation_id"],
            user_id=d["user_id"],
            label=VerdictLabel(d["label"]),
            p_unsafe=d["p_unsafe"],
            categories=tuple(CategoryScore.from_avro(c) for c in d.get("categories") or ()),
            analysis=d.get("analysis"),
            model_name=d["model_name"],
            model_version=d["model_version"],
            policy_version=d["policy_version"],
            event_created_at_ms=d["event_created_at_ms"],
            verdict_at_ms=d["verdict_at_ms"],
            queue_ms=d["queue_ms"],
            inference_ms=d["inference_ms"],
            end_to_end_ms=d["end_to_end_ms"],
            trace_id=d.get("trace_id"),
            source_topic=d["source_topic"],
            source_partition=d["source_partition"],
            source_offset=d["source_offset"],
            stage=GuardStage(d["stage"]) if d.get("stage") else None,
            p_unsafe_fast=d.get("p_unsafe_fast"),
            p_unsafe_generative=d.get("p_unsafe_generative"),
            policy_id=d.get("policy_id"),
            decided_by=Decider(d["decided_by"]) if d.get("decided_by") else None,
            blocklist_hits=tuple(BlocklistHit.from_avro(hit) for hit in d.get("blocklist_hits") or ()),
            revision=d.get("revision", 0),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """An input that can never be processed, with the reason (``schemas/dead_letter.avsc``)."""

    AVRO_NAME: ClassVar[str] = "guardstream.DeadLetter"

    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None
    payload: bytes
    payload_size: int
    payload_truncated: bool
    kind: str
    reason: str
    event_id: str | None = None
    failed_at_ms: int
    worker_id: str

    @classmethod
    def refused(
        cls,
        position: tuple[str, int, int],
        key: bytes | None,
        payload: bytes,
        kind: str,
        reason: str,
        *,
        max_payload_bytes: int,
        failed_at_ms: int,
        worker_id: str,
        event_id: str | None = None,
    ) -> DeadLetter:
        """The dead letter of the record at ``position`` (topic, partition, offset): its key and payload
        cut to what a dead letter keeps, the reason made storable (it may quote the input)."""
        topic, partition, offset = position
        return cls(
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            key=key[:KEY_BYTES] if key is not None else None,
            payload=payload[:max_payload_bytes],
            payload_size=len(payload),
            payload_truncated=len(payload) > max_payload_bytes,
            kind=kind,
            reason=storable(reason),
            event_id=event_id,
            failed_at_ms=failed_at_ms,
            worker_id=worker_id,
        )

    def to_avro(self) -> dict[str, Any]:
        return {
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "key": self.key,
            "payload": self.payload,
            "payload_size": self.payload_size,
            "payload_truncated": self.payload_truncated,
            "kind": self.kind,
            "reason": self.reason,
            "event_id": self.event_id,
            "failed_at_ms": self.failed_at_ms,
            "worker_id": self.worker_id,
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> DeadLetter:
        return cls(
            source_topic=d["source_topic"],
            source_partition=d["source_partition"],
            source_offset=d["source_offset"],
            key=d.get("key"),
            payload=d["payload"],
            payload_size=d["payload_size"],
            payload_truncated=d["payload_truncated"],
            kind=d["kind"],
            reason=d["reason"],
            event_id=d.get("event_id"),
            failed_at_ms=d["failed_at_ms"],
            worker_id=d["worker_id"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Feedback:
    """A human label for a judged event (``schemas/feedback.avsc``)."""

    AVRO_NAME: ClassVar[str] = "guardstream.Feedback"

    feedback_id: str
    event_id: str
    reviewer: str
    label: FeedbackLabel
    category: str | None = None
    note: str | None = None
    model_label: str | None = None
    model_version: str | None = None
    labelled_at_ms: int

    def to_avro(self) -> dict[str, Any]:
        return {
            "feedback_id": self.feedback_id,
            "event_id": self.event_id,
            "reviewer": self.reviewer,
            "label": self.label.value,
            "category": self.category,
            "note": self.note,
            "model_label": self.model_label,
            "model_version": self.model_version,
            "labelled_at_ms": self.labelled_at_ms,
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> Feedback:
        return cls(
            feedback_id=d["feedback_id"],
            event_id=d["event_id"],
            reviewer=d["reviewer"],
            label=FeedbackLabel(d["label"]),
            category=d.get("category"),
            note=d.get("note"),
            model_label=d.get("model_label"),
            model_version=d.get("model_version"),
            labelled_at_ms=d["labelled_at_ms"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """An escalation decided from a window of verdicts (``schemas/action.avsc``)."""

    AVRO_NAME: ClassVar[str] = "guardstream.Action"

    action_id: str
    kind: str
    user_id: str | None
    conversation_id: str | None
    rule_id: str
    rule_version: str
    window_start_ms: int
    window_end_ms: int
    counts: Mapping[str, int]
    evidence_event_ids: tuple[str, ...]
    created_at_ms: int
    duration_ms: int | None = None

    def to_avro(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "kind": self.kind,
            "user_id": self.user_id,
            "conversation_id": self.conversation_id,
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "window_start_ms": self.window_start_ms,
            "window_end_ms": self.window_end_ms,
            "counts": dict(self.counts),
            "evidence_event_ids": list(self.evidence_event_ids),
            "created_at_ms": self.created_at_ms,
            "duration_ms": self.duration_ms,
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> Action:
        return cls(
            action_id=d["action_id"],
            kind=d["kind"],
            user_id=d.get("user_id"),
            conversation_id=d.get("conversation_id"),
            rule_id=d["rule_id"],
            rule_version=d["rule_version"],
            window_start_ms=d["window_start_ms"],
            window_end_ms=d["window_end_ms"],
            counts=dict(d["counts"]),
            evidence_event_ids=tuple(d["evidence_event_ids"]),
            created_at_ms=d["created_at_ms"],
            duration_ms=d.get("duration_ms"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    """Explain mode's analysis of one flagged verdict, made after it (``schemas/analysis.avsc``)."""

    AVRO_NAME: ClassVar[str] = "guardstream.Analysis"

    event_id: str
    conversation_id: str
    user_id: str
    verdict_label: str
    status: AnalysisStatus
    analysis: str | None = None
    explain_label: str | None = None
    category: str | None = None
    reason: str | None = None
    model_name: str
    model_version: str
    verdict_at_ms: int
    analysed_at_ms: int
    explain_ms: float
    trace_id: str | None = None
    source_topic: str
    source_partition: int
    source_offset: int

    def to_avro(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "conversation_id": self.conversation_id,
            "user_id": self.user_id,
            "verdict_label": self.verdict_label,
            "status": self.status.value,
            "analysis": self.analysis,
            "explain_label": self.explain_label,
            "category": self.category,
            "reason": self.reason,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "verdict_at_ms": self.verdict_at_ms,
            "analysed_at_ms": self.analysed_at_ms,
            "explain_ms": self.explain_ms,
            "trace_id": self.trace_id,
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> Analysis:
        return cls(
            event_id=d["event_id"],
            conversation_id=d["conversation_id"],
            user_id=d["user_id"],
            verdict_label=d["verdict_label"],
            status=AnalysisStatus(d["status"]),
            analysis=d.get("analysis"),
            explain_label=d.get("explain_label"),
            category=d.get("category"),
            reason=d.get("reason"),
            model_name=d["model_name"],
            model_version=d["model_version"],
            verdict_at_ms=d["verdict_at_ms"],
            analysed_at_ms=d["analysed_at_ms"],
            explain_ms=d["explain_ms"],
            trace_id=d.get("trace_id"),
            source_topic=d["source_topic"],
            source_partition=d["source_partition"],
            source_offset=d["source_offset"],
        )


RECORD_TYPES: tuple[type, ...] = (ChatEvent, Verdict, DeadLetter, Feedback, Action, Analysis)
"""The top-level records, one per file in ``schemas/``."""
