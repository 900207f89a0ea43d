"""Micro-batches end on size or time; the window commits only a finished prefix."""

from __future__ import annotations

import numpy as np

from tests.support.consumed_records import consumed
from workers.moderation.batcher import MicroBatcher
from workers.moderation.window import BatchWindow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_batch_is_due_when_full_before_its_deadline() -> None:
    clock = Clock()
    batcher: MicroBatcher[int] = MicroBatcher(3, 0.05, clock)
    for item in range(3):
        batcher.add(item)
    assert batcher.is_due()
    assert batcher.take() == [0, 1, 2]
    assert batcher.deadline() is None


def test_batch_is_due_when_its_oldest_item_waited_long_enough() -> None:
    clock = Clock()
    batcher: MicroBatcher[int] = MicroBatcher(100, 0.05, clock)
    batcher.add(1)
    clock.now += 0.049
    batcher.add(2)
    assert not batcher.is_due()
    assert batcher.deadline() == 100.05
    clock.now += 0.002
    assert batcher.is_due()


def test_only_a_finished_prefix_leaves_the_window() -> None:
    window = BatchWindow(max_batches=4, max_in_flight=4)
    first = window.seal([consumed(0), consumed(1)], 0.0)
    second = window.seal([consumed(2)], 0.0)
    assert [r.part for r in window.submittable(0.0)] == [(0, 2), (0, 1)]
    second.complete((0, 1), np.array([0.9]), "1", 5.0)
    assert window.pop_finished_prefix() == []
    first.complete((0, 2), np.array([0.1, 0.2]), "1", 5.0)
    assert window.pop_finished_prefix() == [first, second]


def test_in_flight_limit_holds_back_parts_until_one_returns() -> None:
    window = BatchWindow(max_batches=8, max_in_flight=1)
    window.seal([consumed(0)], 0.0)
    window.seal([consumed(1)], 0.0)
    assert len(list(window.submittable(0.0))) == 1
    assert list(window.submittable(0.0)) == []
    window.returned()
    assert len(list(window.submittable(0.0))) == 1


def test_retry_waits_for_its_backoff() -> None:
    window = BatchWindow(max_batches=8, max_in_flight=4)
    batch = window.seal([consumed(0)], 0.0)
    list(window.submittable(0.0))
    window.returned()
    window.schedule(batch, (0, 1), not_before=5.0)
    assert window.next_wakeup() == 5.0
    assert list(window.submittable(4.9)) == []
    assert len(list(window.submittable(5.0))) == 1


def test_rejected_part_is_halved_until_the_poison_record_stands_alone() -> None:
    window = BatchWindow(max_batches=8, max_in_flight=8)
    batch = window.seal([consumed(offset) for offset in range(4)], 0.0)
    assert batch.reject((0, 4), "bad input") == [(0, 2), (2, 4)]
    batch.complete((0, 2), np.array([0.1, 0.2]), "1", 1.0)
    assert batch.reject((2, 4), "bad input") == [(2, 3), (3, 4)]
    batch.complete((2, 3), np.array([0.3]), "1", 1.0)
    assert batch.reject((3, 4), "bad input") == []
    assert batch.done
    rejected = batch.poison(3)
    assert rejected is not None and rejected.kind == "inference_error"
    assert batch.poison(2) is None


def test_poison_records_need_no_inference_and_still_move_the_offset() -> None:
    window = BatchWindow(max_batches=8, max_in_flight=8)
    batch = window.seal([consumed(0, poison=True), consumed(1, partition=2, poison=True)], 0.0)
    assert batch.done
    assert list(window.submittable(0.0)) == []
    assert batch.positions() == {("chat.events", 0): 1, ("chat.events", 2): 2}


def test_abandoned_batches_leave_the_window_without_committing() -> None:
    window = BatchWindow(max_batches=8, max_in_flight=8)
    window.seal([consumed(0)], 0.0)
    dropped = window.clear()
    assert len(dropped) == 1 and len(window) == 0
    assert list(window.submittable(0.0)) == []
