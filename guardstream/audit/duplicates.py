"""Which verdicts of a write repeat an event that already has a verdict from another source position.

The verdicts table keeps one row per event_id, and the row's source position names the reading of
the event that owns the verdict: the first one written. A verdict written again from that same
position is a replay (a batch processed again after a crash): it still owns the verdict and goes
out again, as the exactly-once transaction needs. A verdict from any other position is a
duplicate: the event was sent again (a producer retrying; within one batch, minutes later or on
another partition). It is recorded as such and never produced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from guardstream.records import Verdict

Position = tuple[str, int, int]
"""(topic, partition, offset) where an event was read."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    event_id: str
    position: Position
    """Where this copy was read."""
    first: Position
    """Where the copy whose verdict stands was read."""
    detected_at_ms: int


def source_position(verdict: Verdict) -> Position:
    return (verdict.source_topic, verdict.source_partition, verdict.source_offset)


def find_duplicates(verdicts: Sequence[Verdict], owners: Mapping[str, Position]) -> list[Duplicate]:
    """The verdicts whose event_id is owned by another position (``owners``: after the write, by event_id)."""
    duplicates = []
    for verdict in verdicts:
        position, first = source_position(verdict), owners[verdict.event_id]
        if position != first:
            duplicates.append(Duplicate(verdict.event_id, position, first, verdict.verdict_at_ms))
    return duplicates


def duplicate_row(duplicate: Duplicate) -> dict[str, Any]:
    topic, partition, offset = duplicate.position
    first_topic, first_partition, first_offset = duplicate.first
    return {
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "event_id": duplicate.event_id,
        "first_topic": first_topic,
        "first_partition": first_partition,
        "first_offset": first_offset,
        "detected_at_ms": duplicate.detected_at_ms,
    }
