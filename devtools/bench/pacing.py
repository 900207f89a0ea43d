"""Rate control for the load generator: a fixed rate, or as fast as possible.

The pacer is a schedule, not a sleep per item: item ``i`` is due at ``start + i / rate``, so
a slow moment is caught up afterwards and the long-run rate is exact. Items are released in
small bursts (at most ``burst`` at a time) so that the producer's own cost stays small.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        burst: int = 64,
    ) -> None:
        """``rate`` items per second; None (or 0) means as fast as possible."""
        if rate is not None and rate < 0:
            raise ValueError("rate must be positive, or None for as fast as possible")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate or None
        self._clock = clock
        self._sleep = sleep
        self._burst = burst
        self._start: float | None = None
        self.released = 0

    def due(self) -> int:
        """How many more items may go now (at least 1 after waiting, at most ``burst``)."""
        now = self._clock()
        if self._start is None:
            self._start = now
        if self.rate is None:
            self.released += self._burst
            return self._burst
        owed = int((now - self._start) * self.rate) + 1 - self.released
        if owed <= 0:
            wait = self._start + self.released / self.rate - now
            if wait > 0:
                self._sleep(wait)
            owed = 1
        owed = min(owed, self._burst)
        self.released += owed
        return owed

    def elapsed(self) -> float:
        return 0.0 if self._start is None else self._clock() - self._start
