"""The decision after each chunk of a streamed reply, and the final one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from guardstream.guard.categories import HarmCategory
from guardstream.policy import Policy
from guardstream.records import VerdictLabel
from guardstream.streaming.decisions import ChunkScore, decide, finish
from guardstream.streaming.progress import StreamProgress
from guardstream.streaming.records import ReplyChunk, StreamAction
from guardstream.streaming.rules import StreamCategoryRules, StreamingRules

POLICY = Policy(
    "v1",
    unsafe_threshold=0.5,
    review_threshold=0.3,
    streaming=StreamingRules(
        stop_threshold=0.8,
        debounce_chunks=2,
        hold_back_chars=5,
        categories={HarmCategory.PHYSICAL_MENTAL_HEALTH: StreamCategoryRules(debounce_chunks=1, hold_back_chars=9)},
    ),
)
SAFE, UNSAFE, SUSPECT = ChunkScore(0.1, None), ChunkScore(0.9, None), ChunkScore(0.6, None)


def chunk(seq: int, delta: str) -> ReplyChunk:
    return ReplyChunk(stream_id="s", conversation_id="c", user_id="u", seq=seq, delta=delta, created_at_ms=1)


def run(
    scores: list[ChunkScore], size: int = 10, policy: Policy = POLICY
) -> list[tuple[StreamProgress, StreamAction, int]]:
    progress = StreamProgress.start(chunk(0, ""))
    seen = []
    for seq, score in enumerate(scores):
        after = progress.extended(chunk(seq, "字" * size))
        progress, decision = decide(progress, after, score, policy)
        seen.append((progress, decision.action, decision.visible_chars))
    return seen


def test_safe_chunks_continue_and_show_all_but_the_hold_back() -> None:
    seen = run([SAFE, SAFE, SAFE])
    assert [action for _, action, _ in seen] == [StreamAction.CONTINUE] * 3
    assert [visible for _, _, visible in seen] == [5, 15, 25]


def test_one_unsafe_chunk_holds_where_the_run_began_and_a_safe_one_releases_it() -> None:
    seen = run([SAFE, UNSAFE, SAFE])
    assert [action for _, action, _ in seen] == [StreamAction.CONTINUE, StreamAction.HOLD, StreamAction.CONTINUE]
    held = seen[1]
    assert held[2] == 10  # nothing of the suspicious chunk (from offset 10) is shown
    assert held[0].run == 1 and held[0].run_start == 10
    assert seen[2][0].run == 0 and seen[2][0].run_start is None


def test_debounce_chunks_in_a_row_stop_the_stream_at_the_runs_start() -> None:
    seen = run([SAFE, UNSAFE, UNSAFE])
    progress, action, visible = seen[2]
    assert action is StreamAction.STOP
    assert progress.first_unsafe_offset == 10
    assert visible == 10


def test_a_stop_is_kept_by_later_chunks_whatever_they_score() -> None:
    seen = run([UNSAFE, UNSAFE, SAFE, SAFE])
    assert [action for _, action, _ in seen] == [StreamAction.HOLD] + [StreamAction.STOP] * 3
    assert {visible for _, _, visible in seen[1:]} == {0}


def test_scores_unsafe_by_the_policy_but_below_the_stop_threshold_hold_and_never_stop() -> None:
    seen = run([SAFE, SUSPECT, SUSPECT, SUSPECT, UNSAFE, SUSPECT, UNSAFE])
    assert [action for _, action, _ in seen] == [StreamAction.CONTINUE] + [StreamAction.HOLD] * 6
    assert {visible for _, _, visible in seen[1:]} == {10}  # held from where the suspicion began
    assert seen[-1][0].run == 1  # the suspect score broke the run of stop-worthy ones


def test_a_category_with_debounce_1_stops_at_its_first_unsafe_chunk() -> None:
    seen = run([SAFE, ChunkScore(0.9, HarmCategory.PHYSICAL_MENTAL_HEALTH)])
    assert seen[1][1] is StreamAction.STOP


def test_the_visible_frontier_never_shrinks() -> None:
    big_hold_back = replace(POLICY, streaming=StreamingRules(hold_back_chars=40))
    seen = run([SAFE, SAFE, SAFE, SAFE, SAFE], policy=big_hold_back)
    frontiers = [visible for _, _, visible in seen]
    assert frontiers == sorted(frontiers) and frontiers[-1] == 10


@pytest.mark.parametrize(
    ("scores", "final", "retracted", "action", "visible"),
    [
        (
            [UNSAFE, UNSAFE, SAFE],
            VerdictLabel.SAFE,
            (StreamAction.STOP, StreamAction.CONTINUE),
            StreamAction.CONTINUE,
            30,
        ),
        ([SAFE, SAFE, SAFE], VerdictLabel.UNSAFE, (StreamAction.CONTINUE, StreamAction.STOP), StreamAction.STOP, 25),
        ([SAFE, UNSAFE, SAFE], VerdictLabel.UNSAFE, (StreamAction.HOLD, StreamAction.STOP), StreamAction.STOP, 25),
        ([UNSAFE, UNSAFE, SAFE], VerdictLabel.UNSAFE, None, StreamAction.STOP, 0),
        ([UNSAFE, UNSAFE, SAFE], VerdictLabel.REVIEW, None, StreamAction.STOP, 0),
        ([SAFE, UNSAFE, SAFE], VerdictLabel.REVIEW, None, StreamAction.CONTINUE, 30),
        # the last chunk's own stop was never published: the whole reply decides without a retraction
        ([SAFE, UNSAFE, UNSAFE], VerdictLabel.SAFE, None, StreamAction.CONTINUE, 30),
        ([SAFE, UNSAFE, UNSAFE], VerdictLabel.REVIEW, None, StreamAction.STOP, 10),
    ],
)
def test_the_final_verdict_retracts_the_published_action_only_where_they_disagree(
    scores: list[ChunkScore],
    final: VerdictLabel,
    retracted: tuple[StreamAction, StreamAction] | None,
    action: StreamAction,
    visible: int,
) -> None:
    seen = run(scores)
    finished, retraction = finish(seen[-2][0], seen[-1][0], final)
    found = (retraction.retracted_action, retraction.action) if retraction is not None else None
    assert found == retracted
    assert finished.action is action
    assert finished.visible_chars == visible


def test_a_single_chunk_reply_has_nothing_published_to_retract() -> None:
    [(decided, _, _)] = run([SAFE])
    finished, retraction = finish(StreamProgress.start(chunk(0, "")), decided, VerdictLabel.UNSAFE)
    assert retraction is None and finished.action is StreamAction.STOP


def test_progress_survives_its_changelog_encoding() -> None:
    progress = run([SAFE, UNSAFE])[-1][0]
    progress = replace(progress, question="问？", metadata={"tenant": "acme"})
    assert StreamProgress.decode(progress.encode()) == progress


def test_a_duplicate_chunk_is_seen_and_so_is_any_after_the_stream_finished() -> None:
    progress = run([SAFE, SAFE])[-1][0]
    assert progress.seen(chunk(1, "x")) and not progress.seen(chunk(2, "x"))
    marker = progress.finished(at_ms=5)
    assert marker.seen(chunk(7, "x")) and marker.text == "" and marker.seq == progress.seq
