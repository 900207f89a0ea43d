"""Backoff delays: exponential ceilings, capped, with equal jitter (never under half the ceiling)."""

from __future__ import annotations

import random

from workers.retry import Backoff


def test_delays_double_up_to_the_cap_and_stay_within_half_and_all_of_the_ceiling() -> None:
    backoff = Backoff(0.5, 3.0, _random=random.Random(7))
    ceilings = [0.5, 1.0, 2.0, 3.0, 3.0]
    for ceiling in ceilings:
        assert ceiling / 2 <= backoff.next_delay() <= ceiling
    assert backoff.attempts == len(ceilings)


def test_the_draws_spread_over_the_upper_half_of_the_ceiling() -> None:
    draws = [Backoff(1.0, 1.0, _random=random.Random(seed)).next_delay() for seed in range(200)]
    assert min(draws) < 0.6 and max(draws) > 0.9  # not a fixed wait: workers that failed together spread


def test_reset_starts_again_from_the_initial_delay() -> None:
    backoff = Backoff(0.1, 10.0, _random=random.Random(1))
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert 0.05 <= backoff.next_delay() <= 0.1
