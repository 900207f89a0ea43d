"""The streams a model holds state for, bounded in count, idle time and bytes.

A stream whose client vanished (a crashed worker, a dropped connection) never sends its END, so
its state would stay forever; a burst of new streams would grow the table without limit. Here a
state lives until its stream ends, idles longer than ``idle_timeout_s``, or is the least recently
used when the table is over ``max_streams`` or ``max_state_bytes``. An evicted stream is not an error:
its next chunk is answered "send the text so far" and the state is rebuilt from that text
(:meth:`~guardstream.guard.stream_scoring.StreamScorer.open`).
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guardstream.errors import ConfigurationError

if TYPE_CHECKING:  # the contract imports torch; the Triton glue imports this before torch may load
    from guardstream.guard.stream_scoring import StreamState


@dataclass
class _Entry:
    state: StreamState
    used_at: float
    size_bytes: int


class StreamStates:
    """States by correlation id, least recently used first."""

    def __init__(
        self,
        *,
        max_streams: int,
        idle_timeout_s: float,
        max_state_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_streams < 1:
            raise ConfigurationError(f"max_streams must be at least 1, got {max_streams}")
        if idle_timeout_s <= 0:
            raise ConfigurationError(f"idle_timeout_s must be above 0, got {idle_timeout_s}")
        if max_state_bytes is not None and max_state_bytes < 1:
            raise ConfigurationError(f"max_state_bytes must be at least 1, got {max_state_bytes}")
        self._max_streams = max_streams
        self._idle_timeout_s = idle_timeout_s
        self._max_bytes = max_state_bytes
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self.evictions: Counter[str] = Counter()
        """Streams dropped before their END, by reason: ``idle``, ``streams`` or ``bytes``."""

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, stream_id: str) -> StreamState | None:
        """The stream's state (now its most recently used), or None when none is held."""
        self._expire()
        entry = self._entries.get(stream_id)
        if entry is None:
            return None
        entry.used_at = self._clock()
        self._entries.move_to_end(stream_id)
        return entry.state

    def put(self, stream_id: str, state: StreamState) -> None:
        """Hold ``state`` for the stream (again, after it grew), then evict others while over a bound.

        The stream just put is never evicted by its own put, even when it alone is over ``max_state_bytes``:
        its client is waiting for the score that state just gave."""
        self.drop(stream_id)
        size = state.size_bytes
        self._entries[stream_id] = _Entry(state, self._clock(), size)
        self._bytes += size
        self._expire()
        while len(self._entries) > self._max_streams:
            self._evict_oldest("streams")
        while self._max_bytes is not None and self._bytes > self._max_bytes and len(self._entries) > 1:
            self._evict_oldest("bytes")

    def drop(self, stream_id: str) -> None:
        """Forget the stream (it ended, or its state can no longer be trusted)."""
        entry = self._entries.pop(stream_id, None)
        if entry is not None:
            self._bytes -= entry.size_bytes

    def _expire(self) -> None:
        deadline = self._clock() - self._idle_timeout_s
        while self._entries and next(iter(self._entries.values())).used_at < deadline:
            self._evict_oldest("idle")

    def _evict_oldest(self, reason: str) -> None:
        _, entry = self._entries.popitem(last=False)
        self._bytes -= entry.size_bytes
        self.evictions[reason] += 1
