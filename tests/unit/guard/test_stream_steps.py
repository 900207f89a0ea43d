"""How a stream model finds, rebuilds, rewinds and drops states, with a scorer that records its calls."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from guardstream.guard.category_layout import NO_CATEGORY
from guardstream.guard.scoring import Scores
from guardstream.guard.stream_scoring import StreamState
from guardstream.guard.stream_states import StreamStates
from guardstream.guard.stream_steps import StreamRequest, StreamSteps


@dataclass
class RecordingState:
    question: str
    text: str
    ends: list[int] = field(default_factory=list)

    @property
    def chars(self) -> int:
        return len(self.text)

    @property
    def size_bytes(self) -> int:
        return len(self.text)

    def rewind(self, chars: int) -> bool:
        if chars != 0 and chars not in self.ends:
            return False
        self.text = self.text[:chars]
        self.ends = [end for end in self.ends if end <= chars]
        return True


class RecordingScorer:
    """Scores a stream by its whole text so far: p_unsafe = characters / 1000, category = chars % 7."""

    def __init__(self) -> None:
        self.advances: list[list[str]] = []
        self.opened: list[str] = []
        self.fail = False

    def open(self, question: str, text: str) -> RecordingState:
        self.opened.append(text)
        return RecordingState(question, text, [len(text)] if text else [])

    def advance(self, steps: Sequence[tuple[StreamState, str]]) -> Scores:
        self.advances.append([delta for _, delta in steps])
        for state, delta in steps:
            assert isinstance(state, RecordingState)
            state.text += delta
            state.ends.append(len(state.text))
        if self.fail:
            raise RuntimeError("the scorer broke")
        chars = np.array([state.chars for state, _ in steps])
        return Scores((chars / 1000).astype(np.float32), (chars % 7).astype(np.int64), np.ones(len(steps), np.float32))


@pytest.fixture()
def scorer() -> RecordingScorer:
    return RecordingScorer()


@pytest.fixture()
def steps(scorer: RecordingScorer) -> StreamSteps:
    return StreamSteps(scorer, StreamStates(max_streams=100, idle_timeout_s=600))


def chunk(
    stream: str, delta: str, prefix: int, *, start: bool = False, end: bool = False, text: str | None = None
) -> StreamRequest:
    return StreamRequest(stream, start, end, f"question of {stream}", delta, prefix, text)


def test_interleaved_streams_advance_together_in_one_scorer_call_per_batch(
    steps: StreamSteps, scorer: RecordingScorer
) -> None:
    first = steps.run([chunk("a", "你好", 0, start=True), chunk("b", "hello", 0, start=True)])
    second = steps.run([chunk("b", " world", 5), chunk("a", "世界", 2)])
    assert scorer.advances == [["你好", "hello"], [" world", "世界"]]
    assert [(a.p_unsafe, a.stream_chars, a.needs_text) for a in first] == [
        (pytest.approx(0.002), 2, False),
        (pytest.approx(0.005), 5, False),
    ]
    assert [a.stream_chars for a in second] == [11, 4]
    assert [a.category for a in second] == [11 % 7, 4 % 7]
    assert steps.outcomes == {"opened": 2, "held": 2}


def test_an_unknown_stream_past_its_start_needs_its_text_and_is_rebuilt_from_it(
    steps: StreamSteps, scorer: RecordingScorer
) -> None:
    (answer,) = steps.run([chunk("lost", "，再炒番茄", 4)])
    assert answer.needs_text and math.isnan(answer.p_unsafe) and math.isnan(answer.category_score)
    assert (answer.category, answer.stream_chars) == (NO_CATEGORY, 0)
    assert scorer.advances == []
    (rebuilt,) = steps.run([chunk("lost", "，再炒番茄", 4, text="先炒鸡蛋")])
    assert not rebuilt.needs_text and rebuilt.stream_chars == 9
    assert scorer.opened == ["先炒鸡蛋"]
    (after,) = steps.run([chunk("lost", "。", 9)])
    assert after.stream_chars == 10 and steps.outcomes["held"] == 1


def test_a_replayed_chunk_rewinds_the_state_and_scores_as_the_first_time(steps: StreamSteps) -> None:
    steps.run([chunk("s", "ab", 0, start=True)])
    (first,) = steps.run([chunk("s", "cde", 2)])
    steps.run([chunk("s", "fg", 5)])
    (replayed,) = steps.run([chunk("s", "cde", 2)])
    assert (replayed.p_unsafe, replayed.stream_chars) == (first.p_unsafe, 5)
    assert steps.outcomes["rewound"] == 1


def test_a_state_that_cannot_reach_the_prefix_needs_the_text(steps: StreamSteps) -> None:
    steps.run([chunk("s", "abc", 0, start=True)])
    (ahead,) = steps.run([chunk("s", "x", 9)])  # chunks 3..9 were lost
    assert ahead.needs_text and ahead.stream_chars == 3
    (inside,) = steps.run([chunk("s", "x", 1)])  # not a boundary the state saw
    assert inside.needs_text
    (rebuilt,) = steps.run([chunk("s", "x", 9, text="abcdefghi")])
    assert rebuilt.stream_chars == 10


def test_start_discards_a_held_state_and_end_drops_it_after_scoring(
    steps: StreamSteps, scorer: RecordingScorer
) -> None:
    steps.run([chunk("s", "abc", 0, start=True)])
    (restarted,) = steps.run([chunk("s", "x", 3, start=True)])
    assert restarted.needs_text and restarted.stream_chars == 0  # START: the old state is not trusted
    steps.run([chunk("s", "abc", 0, start=True)])
    (last,) = steps.run([chunk("s", "!", 3, end=True)])
    assert not last.needs_text and last.stream_chars == 4
    (after_end,) = steps.run([chunk("s", "?", 4)])
    assert after_end.needs_text and after_end.stream_chars == 0


def test_a_held_state_of_another_question_is_not_used(steps: StreamSteps) -> None:
    steps.run([chunk("s", "abc", 0, start=True)])
    (answer,) = steps.run([StreamRequest("s", False, False, "another question", "d", 3)])
    assert answer.needs_text


def test_a_failing_scorer_drops_the_batchs_states_and_raises(steps: StreamSteps, scorer: RecordingScorer) -> None:
    steps.run([chunk("a", "abc", 0, start=True), chunk("b", "abc", 0, start=True)])
    scorer.fail = True
    with pytest.raises(RuntimeError, match="broke"):
        steps.run([chunk("a", "d", 3)])
    scorer.fail = False
    (a, b) = steps.run([chunk("a", "d", 3), chunk("b", "d", 3)])
    assert a.needs_text and not b.needs_text  # a's state held an unscored delta: it was dropped


def test_two_chunks_of_one_stream_in_one_batch_apply_in_order(steps: StreamSteps, scorer: RecordingScorer) -> None:
    answers = steps.run([chunk("a", "ab", 0, start=True), chunk("b", "x", 0, start=True), chunk("a", "cd", 2)])
    assert scorer.advances == [["ab", "x"], ["cd"]]
    assert [a.stream_chars for a in answers] == [2, 1, 4]


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"prefix_chars": -1}, "PREFIX_CHARS must be at least 0"),
        ({"prefix_chars": 3, "text": "ab"}, "TEXT has 2 characters but PREFIX_CHARS is 3"),
        ({"stream_id": ""}, "correlation id"),
    ],
)
def test_a_malformed_request_is_refused_with_what_is_wrong(request_fields: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "stream_id": "s",
        "start": False,
        "end": False,
        "question": "q",
        "delta": "d",
        "prefix_chars": 0,
    }
    with pytest.raises(ValueError, match=message):
        StreamRequest(**(fields | request_fields))  # type: ignore[arg-type]
