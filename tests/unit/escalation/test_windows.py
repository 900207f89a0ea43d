"""Event-time window math: alignment, membership, closing."""

from __future__ import annotations

import random

from tests.unit.escalation.scenario import window_starts
from workers.escalation.rules import WindowSpec
from workers.escalation.windows import Window, windows_containing

TUMBLING = WindowSpec(type="tumbling", size="10m")
HOPPING = WindowSpec(type="hopping", size="10m", step="5m")


def test_tumbling_window_is_aligned_and_half_open() -> None:
    assert windows_containing(0, TUMBLING) == [Window(0, 600_000)]
    assert windows_containing(599_999, TUMBLING) == [Window(0, 600_000)]
    assert windows_containing(600_000, TUMBLING) == [Window(600_000, 1_200_000)]


def test_hopping_window_puts_an_instant_in_size_over_step_windows() -> None:
    assert windows_containing(700_000, HOPPING) == [Window(300_000, 900_000), Window(600_000, 1_200_000)]
    assert windows_containing(600_000, HOPPING) == [Window(300_000, 900_000), Window(600_000, 1_200_000)]
    assert windows_containing(599_999, HOPPING) == [Window(0, 600_000), Window(300_000, 900_000)]
    every_instant = {w for t in range(0, 1_200_000, 10_000) for w in windows_containing(t, HOPPING)}
    assert all(w.end_ms - w.start_ms == 600_000 and w.start_ms % 300_000 == 0 for w in every_instant)


def test_window_closes_at_end_plus_grace() -> None:
    window = Window(0, 600_000)
    assert not window.is_closed(659_999, 60_000)
    assert window.is_closed(660_000, 60_000)
    assert window.closes_at(0) == 600_000


def test_negative_and_huge_times_still_align() -> None:
    assert windows_containing(-1, TUMBLING) == [Window(-600_000, 0)]
    big = 1_700_000_123_456
    (window,) = windows_containing(big, TUMBLING)
    assert window.start_ms <= big < window.end_ms and window.start_ms % 600_000 == 0


def test_windows_agree_with_the_scenario_oracle_derived_from_the_definition() -> None:
    draw = random.Random(5)
    specs = [
        TUMBLING,
        HOPPING,
        WindowSpec(type="hopping", size="1h", step="20m"),
        WindowSpec(type="tumbling", size="1s"),
    ]
    for spec in specs:
        for _ in range(2000):
            instant = draw.choice([draw.randint(-(10**13), 10**13), draw.randint(-5, 5) * spec.step])
            assert [w.start_ms for w in windows_containing(instant, spec)] == window_starts(instant, spec), (
                spec,
                instant,
            )
