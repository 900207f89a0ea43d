"""The trail of reviewer actions, on SQLite and PostgreSQL."""

from __future__ import annotations

from workers.review.trail import ReviewTrail


def test_the_trail_remembers_recent_skips(trail: ReviewTrail) -> None:
    trail.record_action("alice", "skip", 5, event_id="e1")
    assert trail.skipped_by("alice", 0) == {"e1"} and trail.skipped_by("alice", 6) == set()
