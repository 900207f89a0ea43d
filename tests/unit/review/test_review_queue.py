"""Queue, leases, labels written once, and undo (before and after the relay's claim), on SQLite and PostgreSQL."""

from __future__ import annotations

from guardstream.audit.feedback_outbox import FeedbackOutbox, feedback_id
from guardstream.records import CategoryScore, FeedbackLabel
from tests.unit.review.conftest import Seed
from workers.review.queue import LabelOutcome, QueueFilters, ReviewQueue
from workers.review.trail import ReviewTrail

LEASE = 60_000
UNSAFE = FeedbackLabel.UNSAFE
SAFE = FeedbackLabel.SAFE


def ids(queue: ReviewQueue, filters: QueueFilters, now: int = 10_000) -> list[str]:
    return [item.verdict["event_id"] for item in queue.items(filters, now)]


def test_queue_holds_only_flagged_verdicts_oldest_or_riskiest_first(queue: ReviewQueue, seed: Seed) -> None:
    old = seed(p_unsafe=0.6, verdict_at_ms=100)
    risky = seed(p_unsafe=0.99, verdict_at_ms=300)
    unsure = seed(label="review", p_unsafe=0.4, verdict_at_ms=200)
    seed(label="safe", p_unsafe=0.1, verdict_at_ms=50)
    assert ids(queue, QueueFilters()) == [old, unsure, risky]
    assert ids(queue, QueueFilters(order="risk")) == [risky, old, unsure]
    assert ids(queue, QueueFilters(model_label="review")) == [unsure]
    assert queue.count(QueueFilters(), 10_000) == 3


def test_queue_filters_by_category_version_and_time(queue: ReviewQueue, seed: Seed) -> None:
    hate = seed(categories=(CategoryScore(category="hate_abuse", score=0.8),), verdict_at_ms=100)
    seed(categories=(CategoryScore(category="privacy_property", score=0.7),), verdict_at_ms=200)
    v2 = seed(model_version="2", verdict_at_ms=300)
    assert ids(queue, QueueFilters(category="hate_abuse")) == [hate]
    assert ids(queue, QueueFilters(model_version="2")) == [v2]
    assert ids(queue, QueueFilters(since_ms=150, until_ms=300)) != [] and hate not in ids(
        queue, QueueFilters(since_ms=150)
    )
    assert queue.model_versions() == ["1", "2"]


def test_a_lease_keeps_a_second_reviewer_off_the_item_until_it_expires(queue: ReviewQueue, seed: Seed) -> None:
    first, second = seed(verdict_at_ms=1), seed(verdict_at_ms=2)
    assert queue.claim_next(QueueFilters(), "alice", 1_000, LEASE) == first
    assert queue.claim_next(QueueFilters(), "bob", 1_000, LEASE) == second
    assert queue.claim(first, "bob", 2_000, LEASE) == "alice"
    assert queue.claim_next(QueueFilters(), "carol", 2_000, LEASE) is None
    assert queue.claim(first, "bob", 1_000 + LEASE, LEASE) == "bob"  # alice's lease ran out


def test_a_label_is_stored_once_even_when_submitted_twice(queue: ReviewQueue, trail: ReviewTrail, seed: Seed) -> None:
    event = seed()
    queue.claim(event, "alice", 1_000, LEASE)
    assert queue.record_label(event, 1, "alice", UNSAFE, "hate_abuse", "骂人", 2_000) is LabelOutcome.RECORDED
    assert queue.record_label(event, 1, "alice", UNSAFE, "hate_abuse", "骂人", 2_001) is LabelOutcome.DUPLICATE
    assert queue.record_label(event, 2, "bob", SAFE, None, None, 2_002) is LabelOutcome.ALREADY_LABELLED
    item = queue.item(event, 3_000)
    assert item is not None and item.label is not None
    assert item.label.feedback_id == feedback_id(event, 1) and item.lease_holder is None
    assert [a["action"] for a in trail.actions(actor="alice")] == ["label"]


def test_a_used_revision_is_a_duplicate_only_for_the_same_label_resubmitted(queue: ReviewQueue, seed: Seed) -> None:
    event = seed()
    queue.claim(event, "alice", 1_000, LEASE)
    assert queue.record_label(event, 1, "alice", UNSAFE, "hate_abuse", "骂人", 2_000) is LabelOutcome.RECORDED
    assert queue.record_label(event, 1, "bob", UNSAFE, "hate_abuse", "骂人", 2_001) is LabelOutcome.ALREADY_LABELLED
    assert queue.record_label(event, 1, "alice", SAFE, None, None, 2_002) is LabelOutcome.ALREADY_LABELLED
    assert queue.record_label(event, 1, "alice", UNSAFE, "hate_abuse", "骂人", 2_003) is LabelOutcome.DUPLICATE
    assert queue.undo_last("alice", 3_000) is not None
    assert queue.record_label(event, 1, "alice", UNSAFE, "hate_abuse", "骂人", 3_001) is LabelOutcome.STALE_REVISION
    item = queue.item(event, 4_000)
    assert item is not None and item.label is None and item.next_revision == 2


def test_labels_need_the_lease_and_the_current_revision(queue: ReviewQueue, seed: Seed) -> None:
    event, safe_one = seed(), seed(label="safe")
    queue.claim(event, "alice", 1_000, LEASE)
    assert queue.record_label(event, 1, "bob", SAFE, None, None, 2_000) is LabelOutcome.LEASED_BY_OTHER
    assert queue.record_label(event, 2, "alice", SAFE, None, None, 2_000) is LabelOutcome.STALE_REVISION
    assert queue.record_label(safe_one, 1, "alice", SAFE, None, None, 2_000) is LabelOutcome.NOT_FLAGGED


def test_undo_before_the_relay_claims_keeps_the_label_off_the_topic(
    queue: ReviewQueue, outbox: FeedbackOutbox, seed: Seed
) -> None:
    event = seed()
    queue.record_label(event, 1, "alice", UNSAFE, None, None, 1_000)
    undone = queue.undo_last("alice", 1_500)
    assert undone is not None and undone.label.event_id == event and not undone.already_sent
    assert outbox.claim(cutoff_ms=10_000, now_ms=10_000) == 0
    assert outbox.claimed_unpublished() == []
    assert ids(queue, QueueFilters()) == [event]  # back in the queue
    assert queue.item(event, 2_000).next_revision == 2  # type: ignore[union-attr]
    assert queue.undo_last("alice", 1_600) is None


def test_undo_after_the_relay_claimed_says_the_label_was_sent(
    queue: ReviewQueue, outbox: FeedbackOutbox, seed: Seed
) -> None:
    event = seed()
    queue.record_label(event, 1, "alice", UNSAFE, None, None, 1_000)
    assert outbox.claim(cutoff_ms=1_000, now_ms=5_000) == 1
    undone = queue.undo_last("alice", 6_000)
    assert undone is not None and undone.already_sent
    assert queue.record_label(event, 2, "alice", SAFE, None, "重新判断", 7_000) is LabelOutcome.RECORDED
    outbox.mark_published([feedback_id(event, 1)], 7_500)
    outbox.claim(cutoff_ms=7_000, now_ms=8_000)
    outbox.mark_published([f.feedback_id for f in outbox.claimed_unpublished()], 8_000)
    training = outbox.labelled_feedback(0)
    assert [(t.feedback.feedback_id, t.feedback.label) for t in training] == [(feedback_id(event, 2), SAFE)]
