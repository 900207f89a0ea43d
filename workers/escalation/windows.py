"""Event-time window arithmetic (pure).

Windows are aligned to the Unix epoch: a window of ``size`` starting every ``step`` milliseconds
covers ``[start, start + size)`` with ``start`` a multiple of ``step``. A tumbling window is the
case ``step == size``: every instant lies in exactly one window; a hopping window with
``size = k × step`` puts every instant in ``k`` windows.

A window *closes* at ``end + grace`` of stream time (the largest event time seen so far on the
agent's partition): after that it takes no more events, rate rules are judged, and its state is
dropped. An event whose window has closed is *late* for that window.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.escalation.rules import WindowSpec


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """``[start_ms, end_ms)`` in event time."""

    start_ms: int
    end_ms: int

    def closes_at(self, grace_ms: int) -> int:
        """Stream time from which the window takes no more events."""
        return self.end_ms + grace_ms

    def is_closed(self, stream_time_ms: int, grace_ms: int) -> bool:
        return stream_time_ms >= self.closes_at(grace_ms)


def windows_containing(event_time_ms: int, spec: WindowSpec) -> list[Window]:
    """Every window of ``spec`` that contains ``event_time_ms``, oldest first."""
    step = spec.step
    last_start = (event_time_ms // step) * step
    first_start = last_start - spec.size_ms + step
    return [Window(start, start + spec.size_ms) for start in range(first_start, last_start + 1, step)]


def window_at(start_ms: int, spec: WindowSpec) -> Window:
    """The window of ``spec`` that starts at ``start_ms``."""
    return Window(start_ms, start_ms + spec.size_ms)
