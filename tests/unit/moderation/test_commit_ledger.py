"""The commit ledger on its own: when a commit is due, what it hands the sink, backoff after a
failure that names its dependency, and the lag of the partitions held."""

from __future__ import annotations

import numpy as np
import pytest

from guardstream.errors import DependencyUnavailableError
from guardstream.policy import Policy
from tests.support.consumed_records import consumed
from tests.support.worker_fakes import FakeSink
from workers.moderation.batch import Batch
from workers.moderation.health import Health, KafkaWatch
from workers.moderation.ledger import CommitLedger
from workers.moderation.outputs import OutputStamp
from workers.retry import Backoff
from workers.transactions import ProducerFencedError

P0, P1 = ("chat.events", 0), ("chat.events", 1)


def finished(*offsets: int, partition: int = 0, poison: bool = False) -> Batch:
    """A batch of the records at ``offsets``, every one judged p_unsafe 0.9 (unsafe: flagged)."""
    batch = Batch(0, [consumed(offset, partition, poison=poison) for offset in offsets], 0.0)
    for part in list(batch.pending_parts):
        batch.complete(part, np.full(part[1] - part[0], 0.9), "1", 1.0)
    return batch


def ledger(watch: KafkaWatch | None = None, limit: int = 100) -> CommitLedger:
    return CommitLedger(
        OutputStamp("guard", Policy("p1", 0.5, 0.3), "w", 16),
        interval_s=0.1,
        backoff=Backoff(1.0, 4.0),
        limit=limit,
        watch=watch or KafkaWatch(Health()),
    )


def test_nothing_is_due_while_nothing_waits() -> None:
    held = ledger()
    assert held.empty and not held.due(5.0) and not held.due(5.0, finishing=True)
    assert held.next_due() is None


def test_a_commit_is_due_once_the_interval_since_the_last_one_has_passed_or_at_once_when_finishing() -> None:
    held, sink = ledger(), FakeSink()
    held.add(finished(0, 1), now_ms=1)
    assert held.due(0.0)  # the first commit waits for no interval
    held.commit(sink, 10.0)
    held.add(finished(2), now_ms=1)
    assert held.next_due() == pytest.approx(10.1)
    assert not held.due(10.09) and held.due(10.1)
    assert held.due(10.01, finishing=True)  # draining with nothing else left: no reason to wait


def test_a_commit_hands_the_sink_everything_added_in_order_with_each_partitions_next_offset() -> None:
    held, sink = ledger(), FakeSink()
    held.add(finished(3, 4), now_ms=1)
    held.add(finished(7, partition=1, poison=True), now_ms=1)
    held.add(finished(5), now_ms=1)
    committed = held.commit(sink, 0.0)
    assert [entry.offset for entry, _, _ in committed.verdicts] == [3, 4, 5]
    assert [entry.offset for entry, _, _ in committed.flagged] == [3, 4, 5]  # p_unsafe 0.9: unsafe
    assert [letter.source_offset for _, letter in committed.dead_letters] == [7]
    assert sink.commits == [committed] and sink.positions == [{P0: 6, P1: 8}]
    assert held.empty and held.next_due() is None


def test_a_failed_commit_names_its_dependency_keeps_the_outputs_and_backs_off() -> None:
    held, sink = ledger(), FakeSink(outages=2)
    held.add(finished(0), now_ms=1)
    with pytest.raises(DependencyUnavailableError) as failure:
        held.commit(sink, 0.0)
    assert failure.value.dependency == "audit"
    assert not held.empty
    assert not held.due(0.49) and not held.due(0.49, finishing=True)  # backoff: 1 s, half of it drawn
    assert held.due(1.0)
    with pytest.raises(DependencyUnavailableError):
        held.commit(sink, 1.0)
    assert not held.due(1.99, finishing=True) and held.due(3.0)  # the second wait doubles
    committed = held.commit(sink, 3.0)
    assert [entry.offset for entry, _, _ in committed.verdicts] == [0] and sink.positions == [{P0: 1}]
    held.add(finished(1), now_ms=1)
    sink.outages = 1
    with pytest.raises(DependencyUnavailableError):
        held.commit(sink, 4.0)
    assert held.due(5.0)  # a success reset the backoff: the first wait again (at most 1 s), not a third (2-4 s)


def test_a_fenced_sink_passes_through_and_leaves_the_outputs_for_the_worker_to_abandon() -> None:
    held = ledger()
    held.add(finished(0), now_ms=1)
    with pytest.raises(ProducerFencedError):
        held.commit(FakeSink(fenced=True), 0.0)
    assert not held.empty
    held.abandon()
    assert held.empty and not held.due(10.0)


def test_past_its_limit_of_finished_records_the_ledger_is_full() -> None:
    held = ledger(limit=3)
    held.add(finished(0, 1), now_ms=1)
    assert not held.full
    held.add(finished(2, poison=True), now_ms=1)
    assert held.full  # verdicts and dead letters both count
    held.commit(FakeSink(), 0.0)
    assert not held.full


def test_lag_is_the_stable_end_minus_the_committed_offset_and_a_revoked_partition_is_forgotten() -> None:
    watch = KafkaWatch(Health())
    watch.stable_ends = {P0: 100, P1: 50, ("chat.events", 2): 9}
    watch.committed = {P0: 20, P1: 10}
    held = ledger(watch)
    held.assign([P1, P0])
    assert held.partitions == [P0, P1]
    assert held.lag() == {P0: 80, P1: 40}  # librdkafka's committed offsets until this instance commits
    held.add(finished(89), now_ms=1)
    held.commit(FakeSink(), 0.0)
    assert held.lag() == {P0: 10, P1: 40}
    held.forget([P0])
    assert held.partitions == [P1] and held.lag() == {P1: 40}
    held.assign([P0])
    assert held.lag() == {P0: 80, P1: 40}  # what this instance committed before is no longer its own
