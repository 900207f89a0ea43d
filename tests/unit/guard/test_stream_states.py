"""The bounded table of stream states, on a fake clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from guardstream.errors import ConfigurationError
from guardstream.guard.stream_states import StreamStates


@dataclass
class FakeState:
    question: str = "q"
    chars: int = 0
    size_bytes: int = 10

    def rewind(self, chars: int) -> bool:
        return chars == self.chars


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_least_recently_used_stream_is_evicted_beyond_max_streams() -> None:
    clock = FakeClock()
    table = StreamStates(max_streams=2, idle_timeout_s=60, clock=clock)
    a, b, c = FakeState("a"), FakeState("b"), FakeState("c")
    table.put("a", a)
    table.put("b", b)
    assert table.get("a") is a  # a is now more recent than b
    table.put("c", c)
    assert (table.get("a"), table.get("b"), table.get("c")) == (a, None, c)
    assert len(table) == 2 and table.evictions == {"streams": 1}


def test_streams_idle_longer_than_the_timeout_are_evicted_and_used_ones_stay() -> None:
    clock = FakeClock()
    table = StreamStates(max_streams=10, idle_timeout_s=60, clock=clock)
    table.put("idle", FakeState())
    table.put("busy", FakeState())
    clock.now += 40
    assert table.get("busy") is not None
    clock.now += 40  # idle: 80 s since its put; busy: 40 s since its get
    assert table.get("idle") is None
    assert table.get("busy") is not None
    assert table.evictions == {"idle": 1}
    clock.now += 60  # exactly the timeout is not yet over it
    assert table.get("busy") is not None


def test_an_ended_stream_is_dropped_without_counting_as_an_eviction() -> None:
    table = StreamStates(max_streams=2, idle_timeout_s=60, clock=FakeClock())
    table.put("a", FakeState(size_bytes=7))
    table.drop("a")
    table.drop("never-held")
    assert table.get("a") is None and len(table) == 0 and table.size_bytes == 0
    assert not table.evictions


def test_bytes_are_bounded_and_a_grown_state_is_counted_at_its_new_size() -> None:
    table = StreamStates(max_streams=10, idle_timeout_s=60, max_state_bytes=100, clock=FakeClock())
    first, second = FakeState(size_bytes=40), FakeState(size_bytes=40)
    table.put("first", first)
    table.put("second", second)
    assert table.size_bytes == 80
    second.size_bytes = 90  # it grew while scoring; putting it back measures it again
    table.put("second", second)
    assert table.get("first") is None and table.get("second") is second
    assert table.size_bytes == 90 and table.evictions == {"bytes": 1}


def test_the_stream_just_put_is_kept_even_when_it_alone_is_over_the_byte_bound() -> None:
    table = StreamStates(max_streams=10, idle_timeout_s=60, max_state_bytes=100, clock=FakeClock())
    huge = FakeState(size_bytes=500)
    table.put("huge", huge)
    assert table.get("huge") is huge


@pytest.mark.parametrize(
    ("arguments", "setting"),
    [
        ({"max_streams": 0, "idle_timeout_s": 1}, "max_streams"),
        ({"max_streams": 1, "idle_timeout_s": 0}, "idle_timeout_s"),
        ({"max_streams": 1, "idle_timeout_s": 1, "max_state_bytes": 0}, "max_state_bytes"),
    ],
)
def test_bounds_that_hold_nothing_are_refused_by_name(arguments: dict[str, float], setting: str) -> None:
    with pytest.raises(ConfigurationError, match=setting):
        StreamStates(**arguments)  # type: ignore[arg-type]
