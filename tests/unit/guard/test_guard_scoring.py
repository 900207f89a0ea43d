"""Score mode: batch invariance, multi-token words against a brute-force reference, ranges."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from guardstream.errors import ConfigurationError
from guardstream.guard.checkpoint import load_tokenizer
from guardstream.guard.prompt import ANSWER_PREFIX, SAFE_WORD, UNSAFE_WORD, build_prompt_text
from guardstream.guard.scoring import GuardScorer

MakePairs = Callable[[int], list[tuple[str, str]]]

# Byte-level prompts are long (every Chinese character is three tokens).
BYTE_LIMIT = 1400


def _scorer(path: Path, **kwargs: object) -> GuardScorer:
    limit = 512 if "default" in str(path) else BYTE_LIMIT
    return GuardScorer(path, max_input_tokens=limit, **kwargs)  # type: ignore[arg-type]


def _brute_force_log_probability(path: Path, question: str, response: str, word: str) -> float:
    """log P(word | prompt + prefix), one forward pass per word token, no batching, no padding."""
    tokenizer = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
    text = build_prompt_text(tokenizer, question, response) + ANSWER_PREFIX
    prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    whole = tokenizer(text + word, add_special_tokens=False)["input_ids"]
    assert whole[: len(prompt_ids)] == prompt_ids
    total = 0.0
    with torch.no_grad():
        for j in range(len(prompt_ids), len(whole)):
            logits = model(input_ids=torch.tensor([whole[:j]])).logits[0, -1].double()
            total += float(torch.log_softmax(logits, dim=-1)[whole[j]])
    return total


@pytest.mark.parametrize("fixture", ["default_checkpoint", "byte_checkpoint", "split_checkpoint"])
def test_a_pair_scores_the_same_alone_and_inside_a_batch_of_64(
    fixture: str, request: pytest.FixtureRequest, make_pairs: MakePairs
) -> None:
    scorer = _scorer(request.getfixturevalue(fixture))
    pairs = make_pairs(64)
    lp_unsafe, lp_safe = scorer.log_probabilities(pairs)
    batched = scorer.score(pairs)
    for i in (0, 1, 5, 6, 7, 30, 63):
        alone_u, alone_s = scorer.log_probabilities([pairs[i]])
        assert abs(alone_u[0] - lp_unsafe[i]) < 1e-4
        assert abs(alone_s[0] - lp_safe[i]) < 1e-4
        assert abs(scorer.score([pairs[i]])[0] - batched[i]) < 1e-4


@pytest.mark.parametrize(
    ("fixture", "unsafe_word", "safe_word"),
    [
        ("byte_checkpoint", UNSAFE_WORD, SAFE_WORD),  # 9 and 6 tokens, separate rows
        ("split_checkpoint", UNSAFE_WORD, SAFE_WORD),  # 4 tokens and 1, one row
        ("byte_checkpoint", "安兔", SAFE_WORD),  # 6 and 6 tokens sharing 5, one row
        ("default_checkpoint", UNSAFE_WORD, SAFE_WORD),  # 1 and 1
    ],
)
def test_word_log_probabilities_match_token_by_token_reference(
    fixture: str, unsafe_word: str, safe_word: str, request: pytest.FixtureRequest
) -> None:
    path = request.getfixturevalue(fixture)
    scorer = _scorer(path, unsafe_word=unsafe_word, safe_word=safe_word)
    pairs = [("怎么做番茄炒蛋？", "先炒鸡蛋。"), ("你好", ""), ("How are you?", "Fine, thanks.")]
    lp_unsafe, lp_safe = scorer.log_probabilities(pairs)
    p_unsafe = scorer.score(pairs)
    for i, (question, response) in enumerate(pairs):
        ref_u = _brute_force_log_probability(path, question, response, unsafe_word)
        ref_s = _brute_force_log_probability(path, question, response, safe_word)
        assert lp_unsafe[i] == pytest.approx(ref_u, abs=1e-4)
        assert lp_safe[i] == pytest.approx(ref_s, abs=1e-4)
        expected = math.exp(ref_u) / (math.exp(ref_u) + math.exp(ref_s))
        assert p_unsafe[i] == pytest.approx(expected, abs=1e-6, rel=1e-4)


def test_p_unsafe_is_a_float32_probability_in_order(default_checkpoint: Path, make_pairs: MakePairs) -> None:
    scorer = _scorer(default_checkpoint)
    pairs = make_pairs(20)
    scores = scorer.score(pairs)
    assert scores.dtype == np.float32 and scores.shape == (20,)
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    lp_unsafe, lp_safe = scorer.log_probabilities(pairs)
    p_safe = 1.0 / (1.0 + np.exp(lp_unsafe - lp_safe))
    np.testing.assert_allclose(scores + p_safe, 1.0, atol=1e-6)
    assert len(set(np.round(scores, 6))) > 1, "different inputs should score differently"


def test_requests_above_max_batch_size_are_chunked_with_the_same_results(
    default_checkpoint: Path, make_pairs: MakePairs
) -> None:
    pairs = make_pairs(23)
    whole = _scorer(default_checkpoint).score(pairs)
    chunked = _scorer(default_checkpoint, max_batch_size=5).score(pairs)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_no_pairs_give_an_empty_array(default_checkpoint: Path) -> None:
    assert _scorer(default_checkpoint).score([]).shape == (0,)


def test_a_folder_without_a_checkpoint_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"config\.json"):
        GuardScorer(tmp_path)


def test_an_unknown_dtype_is_a_configuration_error(default_checkpoint: Path) -> None:
    with pytest.raises(ConfigurationError, match="dtype"):
        GuardScorer(default_checkpoint, dtype="float8")
