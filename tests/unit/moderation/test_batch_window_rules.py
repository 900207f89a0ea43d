"""The exact rules of a micro-batch, a sealed batch's parts and the window: size and age limits at
their boundaries, which records a part covers, what a rejected part becomes, which offsets commit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from guardstream.errors import PoisonInputError
from tests.support.consumed_records import consumed
from workers.moderation.batch import Batch
from workers.moderation.batcher import MicroBatcher
from workers.moderation.window import BatchWindow
from workers.triton_client import CascadeScore, GuardStage

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- Consumed.trace_id ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("traceparent", "trace_id"),
    [
        (None, None),
        (f"00-{TRACE_ID}-00f067aa0ba902b7-01", TRACE_ID),
        (f"00-{TRACE_ID}-00f067aa0ba902b7", None),  # three fields
        (f"00-{TRACE_ID}-00f067aa0ba902b7-01-extra", None),  # five fields
        (f"00-{TRACE_ID[:-1]}-00f067aa0ba902b7-01", None),  # a 31-character id
        (f"00-{TRACE_ID}a-00f067aa0ba902b7-01", None),  # a 33-character id
    ],
)
def test_the_trace_id_is_the_32_character_second_field_of_a_four_field_traceparent(
    traceparent: str | None, trace_id: str | None
) -> None:
    entry = consumed(0)
    entry.traceparent = traceparent
    assert entry.trace_id == trace_id


# -- Batch ---------------------------------------------------------------------------------------


def test_a_sealed_batch_has_one_part_over_the_records_with_an_event_and_no_scores_yet() -> None:
    batch = Batch(7, [consumed(0, poison=True), consumed(1), consumed(2, poison=True), consumed(3), consumed(4)], 1.5)
    assert (batch.seq, batch.sealed_at) == (7, 1.5)
    assert batch.inferable == [1, 3, 4]
    assert batch.pending_parts == {(0, 3)}
    assert not batch.done
    assert batch.scores.shape == (5,) and np.isnan(batch.scores).all()
    assert batch.pairs((1, 3)) == [("问题 3", "回答 3"), ("问题 4", "回答 4")]


def test_a_batch_of_poison_records_only_has_no_part_and_is_done() -> None:
    batch = Batch(0, [consumed(0, poison=True), consumed(1, poison=True)], 0.0)
    assert batch.inferable == [] and batch.pending_parts == set() and batch.done


def test_completed_parts_place_scores_categories_and_cascade_on_their_records() -> None:
    batch = Batch(0, [consumed(0), consumed(1, poison=True), consumed(2), consumed(3), consumed(4)], 0.0)
    assert batch.reject((0, 4), "too large") == [(0, 2), (2, 4)]
    first = CascadeScore(GuardStage.FAST, 0.3, None)
    second = CascadeScore(GuardStage.GENERATIVE, 0.6, 0.9)

    batch.complete((2, 4), np.array([0.3, 0.4]), "v2", 5.0, [None, ("暴力", 0.8)], [first, second])
    assert not batch.done
    batch.complete((0, 2), np.array([0.1, 0.2]), "v3", 3.0, generative_version="g1")

    assert batch.done
    np.testing.assert_array_equal(batch.scores, [0.1, np.nan, 0.2, 0.3, 0.4])
    assert batch.categories == {4: ("暴力", 0.8)}
    assert batch.cascade == {3: first, 4: second}
    assert batch.model_version == "v2"  # the first part's version stands
    assert batch.generative_version == "g1"  # the first non-empty one
    assert batch.inference_ms == 5.0  # the slowest part


def test_the_first_non_empty_versions_stand_and_the_slowest_part_sets_the_inference_time() -> None:
    batch = Batch(0, [consumed(0), consumed(1)], 0.0)
    batch.reject((0, 2), "too large")
    batch.complete((0, 1), np.array([0.1]), "v1", 2.0, generative_version="g1")
    batch.complete((1, 2), np.array([0.2]), "v2", 7.5, generative_version="g2")
    assert (batch.model_version, batch.generative_version, batch.inference_ms) == ("v1", "g1", 7.5)


@pytest.mark.parametrize(
    ("part", "halves"),
    [((0, 2), [(0, 1), (1, 2)]), ((0, 5), [(0, 2), (2, 5)]), ((3, 6), [(3, 4), (4, 6)]), ((1, 4), [(1, 2), (2, 4)])],
)
def test_a_rejected_part_of_several_records_is_replaced_by_its_two_halves(
    part: tuple[int, int], halves: list[tuple[int, int]]
) -> None:
    batch = Batch(0, [consumed(offset) for offset in range(6)], 0.0)
    batch.pending_parts = {part, (9, 10)}
    assert batch.reject(part, "bad input") == halves
    assert batch.pending_parts == {*halves, (9, 10)}
    assert [batch.poison(index) for index in range(6)] == [None] * 6


def test_a_rejected_single_record_is_poisoned_with_the_reason_and_its_part_is_gone() -> None:
    batch = Batch(0, [consumed(0), consumed(1, poison=True), consumed(2), consumed(3), consumed(4)], 0.0)
    batch.pending_parts = {(2, 3), (0, 1)}
    assert batch.reject((2, 3), "Triton: input too long") == []
    assert batch.pending_parts == {(0, 1)}
    poison = batch.poison(3)  # inferable position 2 is the fourth record
    assert isinstance(poison, PoisonInputError)
    assert (poison.kind, poison.reason) == ("inference_error", "Triton: input too long")
    assert [batch.poison(index) is None for index in range(5)] == [True, False, True, False, True]
    assert batch.poison(1) is batch.entries[1].poison  # poison when read stays what it was
    assert batch.entries[3].poison is None  # the record as read is not rewritten


def test_positions_are_the_next_offset_after_the_last_record_of_each_partition() -> None:
    batch = Batch(
        0,
        [
            consumed(7),
            consumed(3, partition=1, poison=True),
            consumed(5),
            consumed(0, topic="other"),
            consumed(4, partition=1),
        ],
        0.0,
    )
    assert batch.positions() == {("chat.events", 0): 8, ("chat.events", 1): 5, ("other", 0): 1}


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10**12)), min_size=1, max_size=30))
def test_positions_commit_past_every_record_and_no_further(reads: list[tuple[int, int]]) -> None:
    batch = Batch(0, [consumed(offset, partition=partition) for partition, offset in reads], 0.0)
    expected: dict[tuple[str, int], int] = {}
    for partition, offset in reads:
        expected[("chat.events", partition)] = max(offset + 1, expected.get(("chat.events", partition), offset + 1))
    assert batch.positions() == expected


# -- MicroBatcher --------------------------------------------------------------------------------


def test_a_micro_batch_is_due_at_exactly_its_size_and_not_one_item_before() -> None:
    clock = Clock()
    batcher: MicroBatcher[int] = MicroBatcher(3, 0.5, clock)
    batcher.add(1)
    batcher.add(2)
    assert (len(batcher), batcher.room, batcher.is_due()) == (2, 1, False)
    batcher.add(3)
    assert (len(batcher), batcher.room, batcher.is_due()) == (3, 0, True)


def test_a_micro_batch_is_due_at_exactly_its_deadline_counted_from_its_first_item() -> None:
    clock = Clock(100.0)
    batcher: MicroBatcher[str] = MicroBatcher(10, 0.5, clock)
    assert batcher.deadline() is None
    batcher.add("a")
    clock.now = 100.25
    batcher.add("b")  # a later item does not move the deadline
    assert batcher.deadline() == 100.5
    assert not batcher.is_due()
    clock.now = 100.5
    assert batcher.is_due()


def test_an_empty_micro_batch_is_never_due_and_the_next_item_opens_a_new_deadline() -> None:
    clock = Clock(100.0)
    batcher: MicroBatcher[str] = MicroBatcher(1, 0.5, clock)
    batcher.add("a")
    assert batcher.take() == ["a"]
    assert batcher.take() == []
    clock.now = 200.0
    assert not batcher.is_due() and batcher.deadline() is None and batcher.room == 1
    batcher.add("b")
    assert batcher.deadline() == 200.5


def test_a_sealed_batch_never_holds_more_than_its_size_and_the_rest_opens_the_next_one() -> None:
    clock = Clock(100.0)
    batcher: MicroBatcher[int] = MicroBatcher(3, 0.5, clock)
    for item in range(4):
        batcher.add(item)
    assert batcher.take() == [0, 1, 2]
    assert (len(batcher), batcher.deadline()) == (1, 100.5)  # it waited since the first item came
    batcher.clear()
    assert batcher.take() == []


def test_drop_forgets_the_items_keep_rejects_and_keeps_the_rest_in_order() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(10, 0.5, Clock())
    for item in range(6):
        batcher.add(item)
    batcher.drop(lambda item: item % 2 == 1)
    assert batcher.take() == [1, 3, 5]


# -- BatchWindow ---------------------------------------------------------------------------------


def test_the_window_is_full_at_exactly_its_batch_limit() -> None:
    window = BatchWindow(max_batches=2, max_in_flight=1)
    window.seal([consumed(0)], 0.0)
    assert not window.full
    window.seal([consumed(1)], 0.0)
    assert window.full and len(window) == 2


def test_sealed_batches_are_numbered_from_zero_and_queue_their_part_at_the_seal_time() -> None:
    window = BatchWindow(max_batches=8, max_in_flight=1)
    assert window.next_wakeup() is None
    first = window.seal([consumed(0), consumed(1)], 3.0)
    poison_only = window.seal([consumed(2, poison=True)], 4.0)
    third = window.seal([consumed(3)], 5.0)
    assert [(batch.seq, batch.sealed_at) for batch in window] == [(0, 3.0), (1, 4.0), (2, 5.0)]
    assert [batch.seq for batch in (first, poison_only, third)] == [0, 1, 2]
    assert window.next_wakeup() == 3.0
    assert [(request.batch.seq, request.part, request.not_before) for request in window.submittable(10.0)] == [
        (0, (0, 2), 3.0)
    ]


def test_parts_are_handed_out_in_order_once_due_and_while_under_the_in_flight_limit() -> None:
    window = BatchWindow(max_batches=8, max_in_flight=2)
    batch = window.seal([consumed(offset) for offset in range(4)], 0.0)
    list(window.submittable(0.0))
    window.returned()
    assert window.in_flight == 0
    for part, not_before in [((0, 1), 2.0), ((1, 2), 1.0), ((2, 3), 1.0), ((3, 4), 0.5)]:
        window.schedule(batch, part, not_before)
    assert window.next_wakeup() == 0.5
    assert [request.part for request in window.submittable(0.9)] == [(3, 4)]
    assert window.in_flight == 1
    assert [request.part for request in window.submittable(1.0)] == [(1, 2)]  # due at exactly 1.0; limit 2 reached
    assert window.in_flight == 2
    assert window.next_wakeup() is None  # nothing more may go out
    window.returned()
    assert window.in_flight == 1
    assert window.next_wakeup() == 1.0
    assert [request.part for request in window.submittable(5.0)] == [(0, 1)]  # queue order, not due order
    window.returned()
    window.returned()
    assert window.in_flight == 0
    assert [request.part for request in window.submittable(5.0)] == [(2, 3)]


def test_clear_drops_the_batches_keep_rejects_with_their_waiting_parts() -> None:
    window = BatchWindow(max_batches=8, max_in_flight=8)
    first = window.seal([consumed(0)], 0.0)
    second = window.seal([consumed(1)], 0.0)
    third = window.seal([consumed(2)], 0.0)
    assert window.clear(keep=lambda batch: batch.seq == 1) == [first, third]
    assert list(window) == [second]
    assert [request.batch for request in window.submittable(0.0)] == [second]
    assert window.clear() == [second] and len(window) == 0
