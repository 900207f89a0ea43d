"""A sealed micro-batch: the consumed records, and the inference state of their parts.

A batch is split into *parts* (ranges of the records that need the model). A part that Triton
rejects as bad input is halved until the offending record stands alone; that record is then
dead-lettered, so one poison input never blocks its partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from guardstream.errors import PoisonInputError
from guardstream.policy import ModelUnavailable
from guardstream.records import ChatEvent
from workers.moderation.screening import Screens
from workers.triton_client import CascadeScore, Escalates

Part = tuple[int, int]
"""A half-open range [start, end) of positions in :attr:`Batch.inferable`."""


@dataclass(slots=True)
class Consumed:
    """One record read from Kafka: decoded into an event, or rejected with the reason (both set once, when it is read)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    consumed_at: float
    event: ChatEvent | None = None
    poison: PoisonInputError | None = None
    payload: bytes | None = None
    traceparent: str | None = None

    @property
    def trace_id(self) -> str | None:
        """The trace id of a W3C ``traceparent`` header (``00-<trace id>-<span id>-<flags>``)."""
        if self.traceparent is None:
            return None
        parts = self.traceparent.split("-")
        return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


@dataclass(slots=True)
class Batch:
    seq: int
    entries: list[Consumed]
    sealed_at: float
    screens: dict[int, Screens] = field(default_factory=dict)
    """The events' blocklist screening by index in :attr:`entries` (none: no blocklist is in force)."""
    inferable: list[int] = field(init=False)
    scores: np.ndarray[Any, Any] = field(init=False)
    categories: dict[int, tuple[str, float]] = field(default_factory=dict)
    cascade: dict[int, CascadeScore] = field(default_factory=dict)
    model_version: str = ""
    generative_version: str = ""
    inference_ms: float = 0.0
    submitted_at: float | None = None
    abandoned: bool = False
    pending_parts: set[Part] = field(default_factory=set)
    rejected: dict[int, PoisonInputError] = field(default_factory=dict)
    """Records Triton refused on their own, by index in :attr:`entries`: dead-lettered with this reason."""
    fallen: set[int] = field(default_factory=set)
    """Events whose policy gave up waiting for the model, by index: a fallback verdict, judged again later."""

    def __post_init__(self) -> None:
        self.inferable = [
            index
            for index, entry in enumerate(self.entries)
            if entry.event is not None and (index not in self.screens or self.screens[index].needs_model)
        ]
        self.scores = np.full(len(self.entries), np.nan)
        if self.inferable:
            self.pending_parts.add((0, len(self.inferable)))

    @property
    def done(self) -> bool:
        return not self.pending_parts

    def pairs(self, part: Part) -> list[tuple[str, str]]:
        start, end = part
        pairs = []
        for index in self.inferable[start:end]:
            event = self.entries[index].event
            assert event is not None
            pairs.append(event.guard_pair())
        return pairs

    def escalations(self, part: Part) -> list[Escalates] | None:
        """Each pair's escalation band, from the policy its event is judged by (None: the default's)."""
        if not self.screens:
            return None
        start, end = part
        return [self.screens[index].acting.policy.escalates for index in self.inferable[start:end]]

    def complete(
        self,
        part: Part,
        scores: np.ndarray[Any, Any],
        model_version: str,
        elapsed_ms: float,
        categories: list[tuple[str, float] | None] | None = None,
        cascade: list[CascadeScore] | None = None,
        generative_version: str = "",
    ) -> None:
        start, end = part
        self.scores[self.inferable[start:end]] = scores
        for index, category in zip(self.inferable[start:end], categories or (), strict=False):
            if category is not None:
                self.categories[index] = category
        for index, judged in zip(self.inferable[start:end], cascade or (), strict=False):
            self.cascade[index] = judged
        self.model_version = self.model_version or model_version
        self.generative_version = self.generative_version or generative_version
        self.inference_ms = max(self.inference_ms, elapsed_ms)
        self.pending_parts.discard(part)

    def fall_back(self, part: Part, now: float) -> list[Part] | None:
        """The model failed ``part`` again: the events whose policy falls back and whose deadline has
        passed leave it (:attr:`fallen`). Returns the parts left to retry, or None when none fell back."""
        start, end = part
        due = {
            index
            for index in self.inferable[start:end]
            if (screens := self.screens.get(index)) is not None
            and screens.acting.policy.model_unavailable is ModelUnavailable.FALLBACK
            and now >= self.sealed_at + screens.acting.policy.fallback_after_s
        }
        if not due:
            return None
        self.pending_parts.discard(part)
        self.fallen |= due
        left: list[Part] = []
        for position in range(start, end):
            if self.inferable[position] in due:
                continue
            if left and left[-1][1] == position:
                left[-1] = (left[-1][0], position + 1)
            else:
                left.append((position, position + 1))
        self.pending_parts.update(left)
        return left

    def reject(self, part: Part, reason: str) -> list[Part]:
        """Triton refused ``part``: halve it, or dead-letter its single record. Returns new parts."""
        self.pending_parts.discard(part)
        start, end = part
        if end - start == 1:
            self.rejected[self.inferable[start]] = PoisonInputError("inference_error", reason)
            return []
        middle = (start + end) // 2
        halves = [(start, middle), (middle, end)]
        self.pending_parts.update(halves)
        return halves

    def poison(self, index: int) -> PoisonInputError | None:
        """Why the record at ``index`` of :attr:`entries` gets no verdict: unreadable, or refused by Triton."""
        return self.rejected.get(index, self.entries[index].poison)

    def positions(self) -> dict[tuple[str, int], int]:
        """The next offset to commit for every partition the batch read from."""
        positions: dict[tuple[str, int], int] = {}
        for entry in self.entries:
            key = (entry.topic, entry.partition)
            positions[key] = max(positions.get(key, 0), entry.offset + 1)
        return positions
