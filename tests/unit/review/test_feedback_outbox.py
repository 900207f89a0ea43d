"""The feedback outbox: labels wait out the undo window, then leave as Feedback records; training
reads what was published. On SQLite and PostgreSQL."""

from __future__ import annotations

from guardstream.audit.feedback_outbox import FeedbackOutbox, feedback_id
from guardstream.records import FeedbackLabel
from tests.unit.review.conftest import Seed
from workers.review.queue import ReviewQueue


def test_the_outbox_waits_for_the_undo_window_and_hands_out_feedback_records(
    queue: ReviewQueue, outbox: FeedbackOutbox, seed: Seed
) -> None:
    event = seed(text="回答内容", question="问题内容")
    queue.record_label(event, 1, "alice", FeedbackLabel.UNSAFE, "illegal_activities", "note", 1_000)
    assert outbox.claim(cutoff_ms=999, now_ms=1_100) == 0
    assert outbox.claim(cutoff_ms=1_000, now_ms=1_100) == 1
    (record,) = outbox.claimed_unpublished()
    assert record.feedback_id == feedback_id(event, 1) and record.label is FeedbackLabel.UNSAFE
    assert record.category == "illegal_activities" and record.model_label == "unsafe" and record.model_version == "1"
    assert outbox.labelled_feedback(0) == []  # not on the topic yet
    assert len(outbox.labelled_feedback(0, only_published=False)) == 1
    outbox.mark_published([record.feedback_id], 2_000)
    (labelled,) = outbox.labelled_feedback(0)
    assert labelled.guard_pair() == ("问题内容", "回答内容") and labelled.published
    assert outbox.labelled_feedback(1_001) == []
    assert outbox.oldest_unpublished_claim_ms() is None
