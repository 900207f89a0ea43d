"""The fast guard scoring streams: a fixed window per chunk, rebuilds and rewinds that score the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardstream.errors import ConfigurationError
from guardstream.guard.stream_fast import FastStreamScorer
from tests.unit.guard.test_fast_guard import build_tiny_fast_guard

WINDOW = 20
REPLY = "今天天气很好。请问怎么做这个？谢谢你的回答。" * 100  # 2,200 characters
CHUNKS = [REPLY[i : i + 7] for i in range(0, 63, 7)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_fast_guard(tmp_path_factory.mktemp("stream_fast") / "checkpoint", max_input_tokens=48)


@pytest.fixture()
def scorer(checkpoint: Path) -> FastStreamScorer:
    return FastStreamScorer(checkpoint, window_chars=WINDOW)


def _chunk_by_chunk(scorer: FastStreamScorer, question: str, chunks: list[str]) -> list[float]:
    state = scorer.open(question, "")
    return [float(scorer.advance([(state, chunk)]).p_unsafe[0]) for chunk in chunks]


def test_a_chunk_costs_the_same_at_a_long_prefix_as_at_a_short_one(
    scorer: FastStreamScorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[tuple[str, str]]] = []
    widths: list[int] = []
    score, batch = scorer._fast.score_with_categories, scorer._fast._encoder.batch

    def spy_score(pairs: list[tuple[str, str]]) -> Any:
        seen.append(list(pairs))
        return score(pairs)

    def spy_batch(pairs: list[tuple[str, str]], device: Any) -> Any:
        tensors = batch(pairs, device)
        widths.append(int(tensors["input_ids"].shape[1]))
        return tensors

    monkeypatch.setattr(scorer._fast, "score_with_categories", spy_score)
    monkeypatch.setattr(scorer._fast._encoder, "batch", spy_batch)
    short, long = scorer.open("你好", REPLY[:200]), scorer.open("你好", REPLY[:2000])
    scorer.advance([(short, "谢谢。")])
    scorer.advance([(long, "谢谢。")])
    (short_pair,), (long_pair,) = seen
    assert len(short_pair[1]) == len(long_pair[1]) == WINDOW
    assert long_pair[1] == (REPLY[:2000] + "谢谢。")[-WINDOW:]
    assert widths[0] == widths[1]


def test_all_steps_of_an_advance_are_scored_in_one_call_each_on_its_own_stream(
    scorer: FastStreamScorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    score = scorer._fast.score_with_categories

    def counted(pairs: list[tuple[str, str]]) -> Any:
        calls.append(len(pairs))
        return score(pairs)

    monkeypatch.setattr(scorer._fast, "score_with_categories", counted)
    first, second = scorer.open("你好", ""), scorer.open("怎么做这个？", "")
    both = scorer.advance([(first, CHUNKS[0]), (second, "不是。")])
    assert calls == [2]
    alone = [_chunk_by_chunk(scorer, "你好", CHUNKS[:1])[0], _chunk_by_chunk(scorer, "怎么做这个？", ["不是。"])[0]]
    np.testing.assert_allclose(both.p_unsafe, alone, atol=1e-6)
    assert both.p_unsafe[0] != pytest.approx(both.p_unsafe[1], abs=1e-6)
    assert both.category.dtype == np.int64 and both.category_score.dtype == np.float32
    assert (first.chars, second.chars) == (7, 3)


def test_a_state_opened_from_the_text_scores_as_the_chunks_did(scorer: FastStreamScorer) -> None:
    streamed = _chunk_by_chunk(scorer, "你好", CHUNKS)
    for cut in (1, 4, len(CHUNKS) - 1):
        rebuilt = scorer.open("你好", "".join(CHUNKS[:cut]))
        again = scorer.advance([(rebuilt, CHUNKS[cut])]).p_unsafe[0]
        assert again == pytest.approx(streamed[cut], abs=1e-6)
    assert len(set(np.round(streamed, 6))) > 1  # the window moves: scores differ from chunk to chunk


def test_rewinding_to_a_seen_boundary_scores_a_replayed_chunk_as_the_first_time(scorer: FastStreamScorer) -> None:
    streamed = _chunk_by_chunk(scorer, "你好", CHUNKS)
    state = scorer.open("你好", "")
    for chunk in CHUNKS:
        scorer.advance([(state, chunk)])
    assert state.rewind(14) and state.chars == 14
    replayed = [float(scorer.advance([(state, chunk)]).p_unsafe[0]) for chunk in CHUNKS[2:]]
    np.testing.assert_allclose(replayed, streamed[2:], atol=1e-6)
    assert not state.rewind(15)  # inside a chunk
    assert not state.rewind(state.chars + 7)  # not seen yet
    assert state.chars == len("".join(CHUNKS))
    assert state.rewind(0) and state.chars == 0
    assert float(scorer.advance([(state, CHUNKS[0])]).p_unsafe[0]) == pytest.approx(streamed[0], abs=1e-6)


def test_a_rebuilt_state_rewinds_only_to_its_start_or_its_end(scorer: FastStreamScorer) -> None:
    state = scorer.open("你好", "".join(CHUNKS[:3]))
    assert not state.rewind(7)
    assert state.rewind(21) and state.rewind(0)


def test_a_long_question_is_cut_to_its_end_so_the_window_is_read_whole(scorer: FastStreamScorer) -> None:
    question = "问" * 30 + "谢谢"
    state = scorer.open(question, REPLY[:100])
    read_question, window = scorer.pair(state)
    assert window == REPLY[80:100]
    assert question.endswith(read_question) and len(read_question) == 48 - 3 - WINDOW
    assert state.question == question


def test_a_window_that_leaves_no_room_for_the_question_is_refused(checkpoint: Path) -> None:
    with pytest.raises(ConfigurationError, match="window_chars must be between 1 and 44"):
        FastStreamScorer(checkpoint, window_chars=45)


def test_size_grows_with_the_text_held_and_shrinks_on_rewind(scorer: FastStreamScorer) -> None:
    state = scorer.open("你好", "")
    empty = state.size_bytes
    scorer.advance([(state, CHUNKS[0]), (scorer.open("q", ""), "")])
    grown = state.size_bytes
    assert grown > empty
    scorer.advance([(state, CHUNKS[1])])
    assert state.size_bytes > grown
    state.rewind(7)
    assert state.size_bytes == grown
