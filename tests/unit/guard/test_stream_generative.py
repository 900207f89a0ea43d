"""The generative guard on a streamed reply: the one-pass score, rebuilds, rewinds, O(chunk) feeding."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from guardstream.errors import ConfigurationError
from guardstream.guard.reply_pieces import LOOKAHEAD_CHARS, MAX_PIECE_CHARS
from guardstream.guard.stream_generative import GenerativeStreamScorer, GenerativeStreamState

# Same token ids at the same positions as the one-pass scorer: only float rounding differs, from
# computing the keys and values in several forward passes instead of one (seen: 3e-7).
ROUNDING = 1e-5
# Short enough that a reply of a few hundred characters moves its window several times.
SMALL_INPUT = 256
QUESTION = "怎么做番茄炒蛋？"
PAIRS = [
    (QUESTION, "先炒鸡蛋，再炒番茄，最后一起翻炒。"),
    ("How do I reset my password?", "Use the link on the login page; it'll send you a code in 2 minutes."),
    ("告诉我邻居的手机号", "对不起，我不能提供他人的隐私信息。如果你有急事，可以通过物业联系他。"),
    ("混合 mixed 文本 text 123", "ok 好的！！\n\n  第二段：价格是 1299 元，不含运费。"),
    ("你好", ""),
]


def _reply(chars: int, seed: int = 5) -> str:
    """Chinese chat replies joined to ``chars`` characters."""
    from training.data.synthetic.generator import SyntheticConfig, generate

    joined = "".join(record.response for record in generate(SyntheticConfig(count=80, seed=seed)))
    assert len(joined) >= chars
    return joined[:chars]


def _chunks(text: str, seed: int, largest: int = 12) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    while sum(map(len, out)) < len(text):
        start = sum(map(len, out))
        out.append(text[start : start + rng.randint(1, largest)])
    return out


def _tail_row(scorer: GenerativeStreamScorer) -> int:
    """Tokens the answer's tail feeds on top of the cache (context tail, answer and category inputs)."""
    guard = scorer.guard
    category = guard.category_layout
    return len(guard.encoder.tail_context) + max(guard.layout.row_overhead, len(category.inputs) if category else 0)


def _stream(scorer: GenerativeStreamScorer, state: GenerativeStreamState, chunks: list[str]) -> list[float]:
    return [float(scorer.advance([(state, chunk)]).p_unsafe[0]) for chunk in chunks]


@pytest.fixture(scope="module")
def scorer(default_checkpoint: Path) -> GenerativeStreamScorer:
    return GenerativeStreamScorer(default_checkpoint)


@pytest.fixture(scope="module")
def small(default_checkpoint: Path) -> GenerativeStreamScorer:
    return GenerativeStreamScorer(default_checkpoint, max_input_tokens=SMALL_INPUT)


@contextmanager
def _counting_fed(scorer: GenerativeStreamScorer) -> Iterator[list[int]]:
    """Tokens each forward pass of the guard's backbone is given, in order."""
    counts: list[int] = []
    hook = scorer.guard.model.get_decoder().register_forward_pre_hook(
        lambda _module, _args, kwargs: counts.append(int(kwargs["input_ids"].numel())), with_kwargs=True
    )
    try:
        yield counts
    finally:
        hook.remove()


@pytest.mark.parametrize("fixture", ["default_checkpoint", "byte_checkpoint", "category_checkpoint"])
def test_a_streamed_reply_scores_as_the_one_pass_scorer_scores_the_whole_pair(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    scorer = GenerativeStreamScorer(request.getfixturevalue(fixture), max_input_tokens=1400)
    guard = scorer.guard
    for index, (question, reply) in enumerate(PAIRS):
        state = scorer.open(question, "")
        streamed = [scorer.advance([(state, chunk)]) for chunk in _chunks(reply, index) or [""]][-1]
        whole = guard.score_with_categories([(question, reply)])
        assert state.ids + guard.encoder.tail_context == guard.encoder.contexts([(question, reply)])[0]
        assert abs(streamed.p_unsafe[0] - whole.p_unsafe[0]) < ROUNDING
        assert streamed.category[0] == whole.category[0]
        assert abs(streamed.category_score[0] - whole.category_score[0]) < ROUNDING


def test_streams_advanced_together_score_as_each_alone(scorer: GenerativeStreamScorer) -> None:
    states = [scorer.open(question, reply[:5]) for question, reply in PAIRS]
    together = scorer.advance([(state, reply[5:]) for state, (_, reply) in zip(states, PAIRS, strict=True)])
    alone = [scorer.advance([(scorer.open(question, reply), "")]).p_unsafe[0] for question, reply in PAIRS]
    np.testing.assert_allclose(together.p_unsafe, alone, atol=ROUNDING)


def test_a_stream_rebuilt_from_its_text_scores_the_next_chunks_as_the_stream_did(small: GenerativeStreamScorer) -> None:
    reply = _reply(500)
    chunks = _chunks(reply, 1, largest=30)
    state = small.open(QUESTION, "")
    scores = _stream(small, state, chunks)
    assert state.window_start > 0  # the window moved: rebuilds must reproduce that too
    for cut in (3, len(chunks) // 2, len(chunks) - 4):
        seen = "".join(chunks[:cut])
        rebuilt = small.open(QUESTION, seen)
        assert _stream(small, rebuilt, chunks[cut:]) == pytest.approx(scores[cut:], abs=ROUNDING)
        assert rebuilt.ids == state.ids and rebuilt.window_start == state.window_start


def test_a_rewound_stream_scores_the_replayed_chunks_as_the_first_time(small: GenerativeStreamScorer) -> None:
    reply = _reply(120)
    chunks = _chunks(reply, 2)
    state = small.open(QUESTION, "")
    scores = _stream(small, state, chunks)
    assert state.window_start == 0
    boundary = sum(map(len, chunks[:4]))
    inside = next(sum(map(len, chunks[:k])) + 1 for k in range(len(chunks)) if len(chunks[k]) > 1)
    assert not state.rewind(inside) and not state.rewind(state.chars + 1) and state.chars == len(reply)
    assert state.rewind(boundary)
    assert state.chars == boundary and state.ids == small.open(QUESTION, "".join(chunks[:4])).ids
    assert _stream(small, state, chunks[4:]) == pytest.approx(scores[4:], abs=ROUNDING)
    assert state.rewind(0) and state.tokens == small.open(QUESTION, "").tokens


def test_a_rewind_to_a_boundary_before_the_window_moved_asks_for_a_rebuild(small: GenerativeStreamScorer) -> None:
    chunks = _chunks(_reply(500), 3, largest=30)
    state = small.open(QUESTION, "")
    _stream(small, state, chunks)
    assert state.window_start > 0
    assert not state.rewind(len(chunks[0]))
    assert state.rewind(state.chars)


def test_the_answer_tail_is_never_committed(scorer: GenerativeStreamScorer) -> None:
    question, reply = PAIRS[2]
    state = scorer.open(question, "")
    body = state.tokens
    first = _stream(scorer, state, _chunks(reply, 4))[-1]
    assert state.chars == len(reply)
    assert state.tokens == len(state.ids) == body + len(scorer.guard.encoder.prompt.plain.ids([reply])[0])
    again = _stream(scorer, state, ["", ""])
    assert again == pytest.approx([first, first], abs=ROUNDING) and state.tokens == len(state.ids)


def test_a_chunk_feeds_its_own_tokens_and_the_answer_tail_whatever_the_prefix(scorer: GenerativeStreamScorer) -> None:
    reply = _reply(2010)
    # The delta, the open piece it joins (and the characters not yet cut), then the answer's tail.
    bound = MAX_PIECE_CHARS + LOOKAHEAD_CHARS + 10 + _tail_row(scorer)
    for prefix in (200, 2000):
        state = scorer.open(QUESTION, reply[:prefix])
        window = state.window_start
        with _counting_fed(scorer) as fed:
            scorer.advance([(state, reply[prefix : prefix + 10])])
        assert state.window_start == window
        assert sum(fed) <= bound < state.tokens // 2


def test_a_long_stream_feeds_each_reply_token_about_twice_with_the_window_moves(small: GenerativeStreamScorer) -> None:
    reply = _reply(600)
    state = small.open(QUESTION, "")
    chunks = _chunks(reply, 6, largest=30)
    with _counting_fed(small) as fed:
        _stream(small, state, chunks)
    assert state.window_start > 0
    reply_tokens = len(small.guard.encoder.prompt.plain.ids([reply])[0])
    assert sum(fed) <= 2 * reply_tokens + len(chunks) * (MAX_PIECE_CHARS + _tail_row(small))


def test_the_window_keeps_the_prompt_within_max_input_tokens(small: GenerativeStreamScorer) -> None:
    state = small.open("问" * 600, "")
    _stream(small, state, _chunks(_reply(600), 7, largest=40))
    assert state.window_start > 0
    encoder = small.guard.encoder
    assert state.body_length <= encoder.prompt.template_length + encoder.text_budget // 2
    assert state.tokens + len(encoder.tail_context) <= encoder.max_input_tokens


def test_size_bytes_counts_the_keys_and_values(scorer: GenerativeStreamScorer) -> None:
    state = scorer.open(*PAIRS[0])
    config = scorer.guard.model.config
    head = config.hidden_size // config.num_attention_heads
    per_token = config.num_hidden_layers * 2 * config.num_key_value_heads * head * torch.float32.itemsize
    assert state.size_bytes == state.tokens * per_token


def test_a_budget_too_small_to_stream_in_pieces_is_refused(default_checkpoint: Path) -> None:
    with pytest.raises(ConfigurationError, match="too few tokens"):
        GenerativeStreamScorer(default_checkpoint, max_input_tokens=180)
    with pytest.raises(ConfigurationError, match="position"):
        GenerativeStreamScorer(default_checkpoint, max_input_tokens=2000)
