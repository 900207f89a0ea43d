"""Token boundaries and truncation of score mode's inputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from guardstream.errors import ConfigurationError
from guardstream.guard.checkpoint import load_tokenizer
from guardstream.guard.encoding import PromptEncoder
from guardstream.guard.prompt import ANSWER_PREFIX, SAFE_WORD, UNSAFE_WORD, build_prompt_text

MakePairs = Callable[[int], list[tuple[str, str]]]


def _tokenizer(path: Path):  # type: ignore[no-untyped-def]
    return load_tokenizer(path)


@pytest.mark.parametrize("fixture", ["default_checkpoint", "byte_checkpoint", "split_checkpoint"])
def test_context_plus_continuation_equals_tokenizing_the_whole_answer(
    fixture: str, request: pytest.FixtureRequest, make_pairs: MakePairs
) -> None:
    tokenizer = _tokenizer(request.getfixturevalue(fixture))
    encoder = PromptEncoder(tokenizer, max_input_tokens=100_000)
    pairs = make_pairs(8)
    for (question, response), context in zip(pairs, encoder.contexts(pairs), strict=True):
        text = build_prompt_text(tokenizer, question, response) + ANSWER_PREFIX
        words = ((UNSAFE_WORD, encoder.layout.unsafe), (SAFE_WORD, encoder.layout.safe))
        for word, continuation in words:
            whole = tokenizer(text + word, add_special_tokens=False)["input_ids"]
            assert whole == context + list(continuation)


def test_default_tokenizer_has_single_token_answer_words(default_checkpoint: Path) -> None:
    layout = PromptEncoder(_tokenizer(default_checkpoint), 512).layout
    assert len(layout.unsafe) == 1 and len(layout.safe) == 1
    assert not layout.needs_extra_row


def test_byte_tokenizer_needs_a_second_row_for_the_safe_word(byte_checkpoint: Path) -> None:
    layout = PromptEncoder(_tokenizer(byte_checkpoint), 4096).layout
    assert (len(layout.unsafe), len(layout.safe)) == (9, 6)
    assert layout.needs_extra_row


def test_safe_word_on_the_unsafe_path_shares_its_row(split_checkpoint: Path) -> None:
    layout = PromptEncoder(_tokenizer(split_checkpoint), 4096).layout
    assert len(layout.unsafe) == 4 and len(layout.safe) == 1
    assert not layout.needs_extra_row


def test_a_merge_across_the_answer_boundary_is_scored_as_a_shared_tail(
    byte_checkpoint: Path,
) -> None:
    # With prefix '..."' and a tokenizer that merges '"' + a word, the quote leaves the context.
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tokenizer = _tokenizer(byte_checkpoint)
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.add_tokens(['"不安全', '"安全'])
    merged = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>")
    merged.chat_template = tokenizer.chat_template
    encoder = PromptEncoder(merged, max_input_tokens=100_000)
    assert encoder.layout.tail_length == 1
    assert len(encoder.layout.unsafe) == 1 and len(encoder.layout.safe) == 1
    text = build_prompt_text(merged, "q", "r") + ANSWER_PREFIX
    context = encoder.contexts([("q", "r")])[0]
    whole = merged(text + UNSAFE_WORD, add_special_tokens=False)["input_ids"]
    assert whole == context + list(encoder.layout.unsafe)


@pytest.mark.parametrize("fixture", ["default_checkpoint", "byte_checkpoint"])
def test_long_pairs_are_cut_from_the_left_of_their_texts_only(fixture: str, request: pytest.FixtureRequest) -> None:
    tokenizer = _tokenizer(request.getfixturevalue(fixture))
    limit = 700 if fixture == "byte_checkpoint" else 240
    encoder = PromptEncoder(tokenizer, max_input_tokens=limit)
    question = "开头" + "很长的问题" * 200 + "问题结尾"
    response = "start " + "a long answer " * 300 + "END OF ANSWER"
    context = encoder.contexts([(question, response)])[0]
    assert len(context) + encoder.layout.row_overhead <= limit
    text = tokenizer.decode(context)
    assert text.startswith("<|im_start|>user\n# 背景 \n")
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n" + ANSWER_PREFIX)
    assert "问题结尾\n大语言模型的回答：" in text and "END OF ANSWER\n<|im_end|>" in text
    assert "开头" not in text and "start " not in text


def test_a_short_pair_keeps_its_whole_texts(default_checkpoint: Path) -> None:
    tokenizer = _tokenizer(default_checkpoint)
    encoder = PromptEncoder(tokenizer, max_input_tokens=512)
    text = tokenizer.decode(encoder.contexts([("完整的问题", "完整的回答")])[0])
    assert "人类的问题：完整的问题\n大语言模型的回答：完整的回答\n" in text


def test_a_token_limit_below_the_template_is_a_configuration_error(
    default_checkpoint: Path,
) -> None:
    with pytest.raises(ConfigurationError, match="max_input_tokens"):
        PromptEncoder(_tokenizer(default_checkpoint), max_input_tokens=64)
