"""Human labels become stage-2 records: from the review store, from Feedback joined with the
audit store's verdicts (real SQLite), or from a file; the newest label per event wins."""

from __future__ import annotations

from pathlib import Path

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.store import AuditStore
from guardstream.records import ChatEvent, ChatRole, Feedback, FeedbackLabel, Verdict, VerdictLabel
from training.data.files import write_jsonl
from training.data.human_labels import FeedbackJoinLabels, FileLabels, MergedLabels, ReviewStoreLabels
from workers.review.queue import ReviewQueue


def row(i: int, role: ChatRole, text: str, question: str | None) -> tuple[ChatEvent, Verdict]:
    event = ChatEvent(
        event_id=f"e{i}", conversation_id="c", user_id="u", role=role, text=text, question=question, created_at_ms=1
    )
    verdict = Verdict(
        event_id=f"e{i}",
        conversation_id="c",
        user_id="u",
        label=VerdictLabel.REVIEW,
        p_unsafe=0.4,
        model_name="guard",
        model_version="1",
        policy_version="p",
        event_created_at_ms=1,
        verdict_at_ms=2,
        queue_ms=0.0,
        inference_ms=0.0,
        end_to_end_ms=0.0,
        source_topic="t",
        source_partition=0,
        source_offset=i,
    )
    return event, verdict


def feedback(event_id: str, label: FeedbackLabel, at: int, category: str | None = None) -> Feedback:
    return Feedback(
        feedback_id=f"f-{event_id}-{at}",
        event_id=event_id,
        reviewer="r",
        label=label,
        category=category,
        note="看过了",
        labelled_at_ms=at,
    )


def engine_with_rows(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = build_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine)
    AuditStore(engine).write(
        [
            row(1, ChatRole.USER, "怎么制作炸药？", None),
            row(2, ChatRole.ASSISTANT, "对不起，我不能帮你。", "怎么骗老人的钱？"),
        ],
        [],
    )
    return engine


def test_feedback_joined_with_verdicts_gives_the_judged_pair(tmp_path: Path) -> None:
    engine = engine_with_rows(tmp_path)
    source = FeedbackJoinLabels(
        [
            feedback("e1", FeedbackLabel.SAFE, 5),
            feedback("e1", FeedbackLabel.UNSAFE, 9, "illegal_activities"),
            feedback("e2", FeedbackLabel.SAFE, 6),
            feedback("e-unknown", FeedbackLabel.UNSAFE, 7),
        ],
        engine,
    )
    records = {r.id: r for r in source.labelled_records()}
    assert set(records) == {"fb-e1", "fb-e2"} and source.missing == ["e-unknown"]
    user, assistant = records["fb-e1"], records["fb-e2"]
    assert (user.question, user.response, user.label, user.category_name) == (
        "怎么制作炸药？",
        "",
        "不安全",
        "违法犯罪",
    )
    assert (assistant.question, assistant.response, assistant.label) == (
        "怎么骗老人的钱？",
        "对不起，我不能帮你。",
        "安全",
    )
    assert user.source == "human-feedback" and user.analyze == "看过了"


def test_review_store_labels_and_merging(tmp_path: Path) -> None:
    engine = engine_with_rows(tmp_path)
    assert (
        ReviewQueue(engine).record_label("e1", 1, "alice", FeedbackLabel.UNSAFE, "hate_abuse", None, 10).value
        == "recorded"
    )
    assert ReviewStoreLabels(engine).labelled_records() == []  # not published to the topic yet
    records = ReviewStoreLabels(engine, only_published=False).labelled_records()
    assert [(r.id, r.label, r.category_name) for r in records] == [("fb-e1", "不安全", "辱骂仇恨")]
    exported = write_jsonl(tmp_path / "labels.jsonl", [records[0]])
    override = FeedbackJoinLabels([feedback("e1", FeedbackLabel.SAFE, 20)], engine)
    merged = MergedLabels([FileLabels(exported), override]).labelled_records()
    assert [(r.id, r.label) for r in merged] == [("fb-e1", "安全")]
