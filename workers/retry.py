"""Exponential backoff with full jitter, for retrying unavailable dependencies."""

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
        """The wait before the next attempt: uniform in [0, min(max, initial·2^attempts)]."""
        ceiling = min(self.max_s, self.initial_s * (2**self.attempts))
        self.attempts += 1
        return self._random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempts = 0
