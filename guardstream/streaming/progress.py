"""One streamed reply's progress: what the worker knows of it between chunks.

It is all a worker needs to go on with a stream after a crash, so it is written to the stream-state
changelog (a compacted topic keyed by stream_id) in the same Kafka transaction as the verdicts and
the input offsets it follows from, and read back when a partition is assigned. Its encoding is
internal (JSON with a format number), read only by workers of this version or later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

from guardstream.errors import PoisonInputError
from guardstream.streaming.records import ReplyChunk, StreamAction

FORMAT = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamProgress:
    stream_id: str
    conversation_id: str
    user_id: str
    question: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    started_at_ms: int
    seq: int = -1
    """The last chunk processed (-1: none yet)."""
    text: str = ""
    """The reply so far."""
    run: int = 0
    """Chunk scores in a row at or above the stop threshold, up to the last chunk."""
    run_start: int | None = None
    """Offset where the current suspicion (chunk scores the policy calls unsafe) began."""
    action: StreamAction = StreamAction.CONTINUE
    """The last decision's action (stop is kept until a retraction)."""
    visible_chars: int = 0
    """Characters a client may show (it never shrinks)."""
    first_unsafe_offset: int | None = None
    """Where the run that stopped the stream began (kept after the stop)."""
    finished_at_ms: int | None = None
    """When the stream got its final verdict: the progress is then only a marker (its text dropped)
    that makes a late or repeated chunk of the stream a duplicate, until it expires."""

    @classmethod
    def start(cls, chunk: ReplyChunk) -> StreamProgress:
        """A stream seen for the first time (normally at seq 0; later when its start was lost)."""
        return cls(
            stream_id=chunk.stream_id,
            conversation_id=chunk.conversation_id,
            user_id=chunk.user_id,
            question=chunk.question,
            metadata=dict(chunk.metadata),
            started_at_ms=chunk.created_at_ms,
        )

    @property
    def chars(self) -> int:
        return len(self.text)

    @property
    def stopped(self) -> bool:
        return self.action is StreamAction.STOP

    def seen(self, chunk: ReplyChunk) -> bool:
        """Whether ``chunk`` was processed already (a producer's retry or a replay), or came after
        its stream's final verdict."""
        return chunk.seq <= self.seq or self.finished_at_ms is not None

    def finished(self, at_ms: int) -> StreamProgress:
        """The marker a finished stream leaves behind."""
        return replace(self, question="", text="", finished_at_ms=at_ms)

    def extended(self, chunk: ReplyChunk) -> StreamProgress:
        return replace(self, seq=chunk.seq, text=self.text + chunk.delta)

    def encode(self) -> bytes:
        fields = asdict(self)
        fields["metadata"] = dict(self.metadata)
        fields["action"] = self.action.value
        return json.dumps({"format": FORMAT, **fields}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def decode(cls, payload: bytes) -> StreamProgress:
        try:
            fields = json.loads(payload)
            if fields.pop("format") != FORMAT:
                raise ValueError("unknown format")
            fields["action"] = StreamAction(fields["action"])
            return cls(**fields)
        except (ValueError, KeyError, TypeError) as exc:
            raise PoisonInputError("bad_stream_state", f"not a stream progress record: {exc}") from None
