import pytest

from devtools.bench.pacing import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run_for(pacer: Pacer, clock: FakeClock, seconds: float, cost_per_item: float = 0.0) -> int:
    released = 0
    end = clock.now + seconds
    while clock.now < end:
        granted = pacer.due()
        released += granted
        clock.now += cost_per_item * granted
    return released


def test_fixed_rate_releases_rate_times_seconds() -> None:
    clock = FakeClock()
    pacer = Pacer(500.0, clock=clock, sleep=clock.sleep)
    released = run_for(pacer, clock, 10.0)
    assert abs(released - 5000) <= 2


def test_fixed_rate_catches_up_after_a_stall_within_the_burst_limit() -> None:
    clock = FakeClock()
    pacer = Pacer(1000.0, clock=clock, sleep=clock.sleep, burst=64)
    assert pacer.due() == 1
    clock.now += 0.5  # a 0.5 s stall: 500 items are owed
    grants = [pacer.due() for _ in range(8)]
    assert grants[0] == 64 and sum(grants) == 500
    assert pacer.released == 501


def test_slow_producer_is_never_put_to_sleep() -> None:
    clock = FakeClock()
    pacer = Pacer(1000.0, clock=clock, sleep=clock.sleep)
    run_for(pacer, clock, 1.0, cost_per_item=0.002)  # can only do 500/s
    assert clock.slept == []


def test_flat_out_never_sleeps_and_grants_whole_bursts() -> None:
    clock = FakeClock()
    pacer = Pacer(None, clock=clock, sleep=clock.sleep, burst=32)
    assert [pacer.due() for _ in range(3)] == [32, 32, 32]
    assert clock.slept == []


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        Pacer(-1.0)
    with pytest.raises(ValueError):
        Pacer(10.0, burst=0)
