"""Exponential backoff with equal jitter, for retrying unavailable dependencies.

Equal jitter (half the ceiling fixed, half drawn at random) rather than full jitter (all of it
drawn): a worker retrying a dependency that is down never comes back at once, which full jitter's
draws near zero would do, and workers that failed together still spread over half the ceiling.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    initial_s: float
    max_s: float
    attempts: int = 0
    _random: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """The wait before the next attempt: uniform in [c/2, c], c = min(max, initial·2^attempts)."""
        ceiling = min(self.max_s, self.initial_s * (2**self.attempts))
        self.attempts += 1
        return self._random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempts = 0
