"""The streamed-reply records: frozen dataclasses that mirror ``schemas/reply_chunk.avsc``,
``schemas/stream_verdict.avsc`` and ``schemas/stream_retraction.avsc``.

Like :mod:`guardstream.records`, each knows its Avro full name and converts to and from the plain
dicts fastavro reads and writes; fields are keyword-only, in the schema's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from guardstream.records import VerdictLabel, millis


class StreamAction(StrEnum):
    """What a client should do with a streamed reply now."""

    CONTINUE = "continue"
    """Show the reply up to ``visible_chars``."""
    HOLD = "hold"
    """A suspicion is not confirmed yet: buffer, show only up to ``visible_chars``."""
    STOP = "stop"
    """End the stream; show nothing past ``visible_chars``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyChunk:
    """One piece of an LLM reply while it streams."""

    AVRO_NAME: ClassVar[str] = "guardstream.ReplyChunk"

    stream_id: str
    conversation_id: str
    user_id: str
    question: str = ""
    seq: int
    delta: str
    final: bool = False
    created_at_ms: int
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "conversation_id": self.conversation_id,
            "user_id": self.user_id,
            "question": self.question,
            "seq": self.seq,
            "delta": self.delta,
            "final": self.final,
            "created_at_ms": self.created_at_ms,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> ReplyChunk:
        return cls(
            stream_id=d["stream_id"],
            conversation_id=d["conversation_id"],
            user_id=d["user_id"],
            question=d.get("question") or "",
            seq=d["seq"],
            delta=d["delta"],
            final=bool(d.get("final", False)),
            created_at_ms=millis(d["created_at_ms"]),
            metadata=dict(d.get("metadata") or {}),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamVerdict:
    """The provisional decision on a streamed reply after one chunk."""

    AVRO_NAME: ClassVar[str] = "guardstream.StreamVerdict"

    stream_id: str
    conversation_id: str
    user_id: str
    seq: int
    label: VerdictLabel
    p_unsafe: float
    category: str | None = None
    chars: int
    first_unsafe_offset: int | None = None
    action: StreamAction
    visible_chars: int
    final: bool = False
    model_name: str
    model_version: str
    policy_id: str
    policy_version: str
    decided_at_ms: int
    source_partition: int
    source_offset: int

    def to_avro(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "conversation_id": self.conversation_id,
            "user_id": self.user_id,
            "seq": self.seq,
            "label": self.label.value,
            "p_unsafe": self.p_unsafe,
            "category": self.category,
            "chars": self.chars,
            "first_unsafe_offset": self.first_unsafe_offset,
            "action": self.action.value,
            "visible_chars": self.visible_chars,
            "final": self.final,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "policy_id": self.policy_id,
            "policy_version": self.policy_version,
            "decided_at_ms": self.decided_at_ms,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> StreamVerdict:
        return cls(
            stream_id=d["stream_id"],
            conversation_id=d["conversation_id"],
            user_id=d["user_id"],
            seq=d["seq"],
            label=VerdictLabel(d["label"]),
            p_unsafe=d["p_unsafe"],
            category=d.get("category"),
            chars=d["chars"],
            first_unsafe_offset=d.get("first_unsafe_offset"),
            action=StreamAction(d["action"]),
            visible_chars=d["visible_chars"],
            final=bool(d.get("final", False)),
            model_name=d["model_name"],
            model_version=d["model_version"],
            policy_id=d["policy_id"],
            policy_version=d["policy_version"],
            decided_at_ms=millis(d["decided_at_ms"]),
            source_partition=d["source_partition"],
            source_offset=d["source_offset"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamRetraction:
    """A provisional decision that turned out wrong, corrected openly."""

    AVRO_NAME: ClassVar[str] = "guardstream.StreamRetraction"

    stream_id: str
    conversation_id: str
    user_id: str
    retracted_seq: int
    retracted_action: StreamAction
    action: StreamAction
    reason: str
    p_unsafe: float
    retracted_at_ms: int
    source_partition: int
    source_offset: int

    def to_avro(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "conversation_id": self.conversation_id,
            "user_id": self.user_id,
            "retracted_seq": self.retracted_seq,
            "retracted_action": self.retracted_action.value,
            "action": self.action.value,
            "reason": self.reason,
            "p_unsafe": self.p_unsafe,
            "retracted_at_ms": self.retracted_at_ms,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> StreamRetraction:
        return cls(
            stream_id=d["stream_id"],
            conversation_id=d["conversation_id"],
            user_id=d["user_id"],
            retracted_seq=d["retracted_seq"],
            retracted_action=StreamAction(d["retracted_action"]),
            action=StreamAction(d["action"]),
            reason=d["reason"],
            p_unsafe=d["p_unsafe"],
            retracted_at_ms=millis(d["retracted_at_ms"]),
            source_partition=d["source_partition"],
            source_offset=d["source_offset"],
        )


STREAM_RECORD_TYPES: tuple[type, ...] = (ReplyChunk, StreamVerdict, StreamRetraction)
"""The record classes of the streamed-reply contracts (beside :data:`guardstream.records.RECORD_TYPES`)."""
