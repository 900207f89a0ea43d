"""Queue, leases, labels written once, undo and the feedback outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

from guardstream.audit.review_store import (
    LabelOutcome,
    QueueFilters,
    ReviewStore,
    feedback_id,
)
from guardstream.records import CategoryScore, FeedbackLabel
from tests.unit.review.conftest import Seed

LEASE = 60_000
UNSAFE = FeedbackLabel.UNSAFE
SAFE = FeedbackLabel.SAFE


def ids(store: ReviewStore, filters: QueueFilters, now: int = 10_000) -> list[str]:
    return [item.verdict["event_id"] for item in store.queue(filters, now)]


def test_queue_holds_only_flagged_verdicts_oldest_or_riskiest_first(store: ReviewStore, seed: Seed) -> None:
    old = seed(p_unsafe=0.6, verdict_at_ms=100)
    risky = seed(p_unsafe=0.99, verdict_at_ms=300)
    unsure = seed(label="review", p_unsafe=0.4, verdict_at_ms=200)
    seed(label="safe", p_unsafe=0.1, verdict_at_ms=50)
    assert ids(store, QueueFilters()) == [old, unsure, risky]
    assert ids(store, QueueFilters(order="risk")) == [risky, old, unsure]
    assert ids(store, QueueFilters(model_label="review")) == [unsure]
    assert store.queue_count(QueueFilters(), 10_000) == 3


def test_queue_filters_by_category_version_and_time(store: ReviewStore, seed: Seed) -> None:
    hate = seed(categories=(CategoryScore(category="hate_abuse", score=0.8),), verdict_at_ms=100)
    seed(categories=(CategoryScore(category="privacy_property", score=0.7),), verdict_at_ms=200)
    v2 = seed(model_version="2", verdict_at_ms=300)
    assert ids(store, QueueFilters(category="hate_abuse")) == [hate]
    assert ids(store, QueueFilters(model_version="2")) == [v2]
    assert ids(store, QueueFilters(since_ms=150, until_ms=300)) != [] and hate not in ids(
        store, QueueFilters(since_ms=150)
    )
    assert store.model_versions() == ["1", "2"]


def test_a_lease_keeps_a_second_reviewer_off_the_item_until_it_expires(store: ReviewStore, seed: Seed) -> None:
    first, second = seed(verdict_at_ms=1), seed(verdict_at_ms=2)
    assert store.claim_next(QueueFilters(), "alice", 1_000, LEASE) == first
    assert store.claim_next(QueueFilters(), "bob", 1_000, LEASE) == second
    assert store.claim(first, "bob", 2_000, LEASE) == "alice"
    assert store.claim_next(QueueFilters(), "carol", 2_000, LEASE) is None
    assert store.claim(first, "bob", 1_000 + LEASE, LEASE) == "bob"  # alice's lease ran out


def test_a_label_is_stored_once_even_when_submitted_twice(store: ReviewStore, seed: Seed) -> None:
    event = seed()
    store.claim(event, "alice", 1_000, LEASE)
    assert store.record_label(event, 1, "alice", UNSAFE, "hate_abuse", "骂人", 2_000) is LabelOutcome.RECORDED
    assert store.record_label(event, 1, "alice", UNSAFE, "hate_abuse", "骂人", 2_001) is LabelOutcome.DUPLICATE
    assert store.record_label(event, 2, "bob", SAFE, None, None, 2_002) is LabelOutcome.ALREADY_LABELLED
    item = store.item(event, 3_000)
    assert item is not None and item.label is not None
    assert item.label.feedback_id == feedback_id(event, 1) and item.lease_holder is None
    assert [a["action"] for a in store.actions(actor="alice")] == ["label"]


def test_a_used_revision_is_a_duplicate_only_for_the_same_label_resubmitted(store: ReviewStore, seed: Seed) -> None:
    event = seed()
    store.claim(event, "alice", 1_000, LEASE)
    assert store.record_label(event, 1, "alice", UNSAFE, "hate_abuse", "骂人", 2_000) is LabelOutcome.RECORDED
    assert store.record_label(event, 1, "bob", UNSAFE, "hate_abuse", "骂人", 2_001) is LabelOutcome.ALREADY_LABELLED
    assert store.record_label(event, 1, "alice", SAFE, None, None, 2_002) is LabelOutcome.ALREADY_LABELLED
    assert store.record_label(event, 1, "alice", UNSAFE, "hate_abuse", "骂人", 2_003) is LabelOutcome.DUPLICATE
    assert store.undo_last("alice", 3_000) is not None
    assert store.record_label(event, 1, "alice", UNSAFE, "hate_abuse", "骂人", 3_001) is LabelOutcome.STALE_REVISION
    item = store.item(event, 4_000)
    assert item is not None and item.label is None and item.next_revision == 2


def test_labels_need_the_lease_and_the_current_revision(store: ReviewStore, seed: Seed) -> None:
    event, safe_one = seed(), seed(label="safe")
    store.claim(event, "alice", 1_000, LEASE)
    assert store.record_label(event, 1, "bob", SAFE, None, None, 2_000) is LabelOutcome.LEASED_BY_OTHER
    assert store.record_label(event, 2, "alice", SAFE, None, None, 2_000) is LabelOutcome.STALE_REVISION
    assert store.record_label(safe_one, 1, "alice", SAFE, None, None, 2_000) is LabelOutcome.NOT_FLAGGED


def test_undo_before_the_relay_claims_keeps_the_label_off_the_topic(store: ReviewStore, seed: Seed) -> None:
    event = seed()
    store.record_label(event, 1, "alice", UNSAFE, None, None, 1_000)
    undone = store.undo_last("alice", 1_500)
    assert undone is not None and undone.label.event_id == event and not undone.already_sent
    assert store.claim_outbox(cutoff_ms=10_000, now_ms=10_000) == 0
    assert store.claimed_unpublished() == []
    assert ids(store, QueueFilters()) == [event]  # back in the queue
    assert store.item(event, 2_000).next_revision == 2  # type: ignore[union-attr]
    assert store.undo_last("alice", 1_600) is None


def test_undo_after_the_relay_claimed_says_the_label_was_sent(store: ReviewStore, seed: Seed) -> None:
    event = seed()
    store.record_label(event, 1, "alice", UNSAFE, None, None, 1_000)
    assert store.claim_outbox(cutoff_ms=1_000, now_ms=5_000) == 1
    undone = store.undo_last("alice", 6_000)
    assert undone is not None and undone.already_sent
    assert store.record_label(event, 2, "alice", SAFE, None, "重新判断", 7_000) is LabelOutcome.RECORDED
    store.mark_published([feedback_id(event, 1)], 7_500)
    store.claim_outbox(cutoff_ms=7_000, now_ms=8_000)
    store.mark_published([f.feedback_id for f in store.claimed_unpublished()], 8_000)
    training = store.labelled_feedback(0)
    assert [(t.feedback.feedback_id, t.feedback.label) for t in training] == [(feedback_id(event, 2), SAFE)]


def test_the_outbox_waits_for_the_undo_window_and_hands_out_feedback_records(store: ReviewStore, seed: Seed) -> None:
    event = seed(text="回答内容", question="问题内容")
    store.record_label(event, 1, "alice", UNSAFE, "illegal_activities", "note", 1_000)
    assert store.claim_outbox(cutoff_ms=999, now_ms=1_100) == 0
    assert store.claim_outbox(cutoff_ms=1_000, now_ms=1_100) == 1
    (record,) = store.claimed_unpublished()
    assert record.feedback_id == feedback_id(event, 1) and record.label is UNSAFE
    assert record.category == "illegal_activities" and record.model_label == "unsafe" and record.model_version == "1"
    assert store.labelled_feedback(0) == []  # not on the topic yet
    assert len(store.labelled_feedback(0, only_published=False)) == 1
    store.mark_published([record.feedback_id], 2_000)
    (labelled,) = store.labelled_feedback(0)
    assert labelled.guard_pair() == ("问题内容", "回答内容") and labelled.published
    assert store.labelled_feedback(1_001) == []
    assert store.oldest_unpublished_claim_ms() is None


def test_accounts_sessions_and_the_trail(store: ReviewStore) -> None:
    assert store.create_account("alice", "hash", "admin", None, 1)
    assert not store.create_account("alice", "other", "reviewer", None, 2)
    store.create_session("h1", "alice", "csrf", 10, 100)
    info = store.session_info("h1", 50)
    assert info is not None and info.role == "admin" and info.csrf_token == "csrf"
    assert store.session_info("h1", 100) is None  # expired
    store.delete_session("h1")
    assert store.session_info("h1", 50) is None
    store.record_action("alice", "skip", 5, event_id="e1")
    assert store.skipped_by("alice", 0) == {"e1"} and store.skipped_by("alice", 6) == set()
