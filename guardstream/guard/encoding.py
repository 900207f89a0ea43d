"""Token-level layout of score mode: prompt + forced answer prefix, then the continuation words.

The guard is asked to continue ``<chat prompt>{ANSWER_PREFIX}`` with either ``不安全`` or
``安全``. To read those probabilities from one forward pass the token boundaries must be the ones
the model would produce when generating, so the continuation token ids are found by tokenizing
the template's tail + prefix and tail + prefix + word and taking the difference (the question
and response are encoded on their own, as plain text: :mod:`guardstream.guard.prompt_tokens`). When a BPE merge
crosses the boundary (the last tokens of the prefix change once a word follows), the shared part
is cut back to the longest common token prefix of all three sequences, and the re-tokenized tail
of the prefix becomes part of both continuations. That tail is common to both words, so the ratio
P(unsafe) / (P(unsafe) + P(safe)) is unchanged. The template's tail is the same text for every
pair, so the layout is measured once.

Over-long pairs are cut from the left of the question's and response's ids, never in the
template or the answer prefix, so that every row stays within ``max_input_tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guardstream.errors import ConfigurationError
from guardstream.guard.prompt import ANSWER_PREFIX, SAFE_WORD, UNSAFE_WORD
from guardstream.guard.prompt_tokens import PromptTokens

_MIN_TEXT_BUDGET = 16


@dataclass(frozen=True)
class ContinuationLayout:
    """How the two answer words follow the shared context, in token ids.

    ``unsafe`` and ``safe`` are the full continuations scored for each word (including any prefix
    tail re-tokenized across the boundary, see :data:`tail_length`). The *main* word is the longer
    one; its row feeds ``context + main[:-1]``. The other word is read from that same row when its
    own inputs ``other[:-1]`` lie on the main word's path; otherwise it needs a row of its own.
    """

    unsafe: tuple[int, ...]
    safe: tuple[int, ...]
    tail_length: int

    @property
    def main_is_unsafe(self) -> bool:
        return len(self.unsafe) >= len(self.safe)

    @property
    def main(self) -> tuple[int, ...]:
        return self.unsafe if self.main_is_unsafe else self.safe

    @property
    def other(self) -> tuple[int, ...]:
        return self.safe if self.main_is_unsafe else self.unsafe

    @property
    def needs_extra_row(self) -> bool:
        """True when the other word's probabilities cannot be read from the main word's row."""
        path = self.other[:-1]
        return tuple(self.main[: len(path)]) != tuple(path)

    @property
    def row_overhead(self) -> int:
        """Tokens a row carries beyond its context (continuation inputs of the main word)."""
        return len(self.main) - 1


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PromptEncoder:
    """Turns (question, response) pairs into context token ids ready for score and explain mode.

    The ids come from :class:`~guardstream.guard.prompt_tokens.PromptTokens`: the question and the
    response as plain text, the template and the answer prefix with the tokenizer's own tokens.
    """

    def __init__(
        self,
        tokenizer: Any,
        max_input_tokens: int,
        *,
        answer_prefix: str = ANSWER_PREFIX,
        unsafe_word: str = UNSAFE_WORD,
        safe_word: str = SAFE_WORD,
    ) -> None:
        self.prompt = PromptTokens(tokenizer)
        self._answer_prefix = answer_prefix
        self.layout = self._measure_layout(unsafe_word, safe_word)
        prefixed = self.prompt.tail_ids(answer_prefix)[0]
        self.tail_context = prefixed[: len(prefixed) - self.layout.tail_length]
        """What every context ends with after the response: the template's tail and the answer prefix,
        less the part re-tokenized with the answer words (the stream scorer puts it after its cache)."""
        self.template_tokens = self.prompt.template_length + len(self.tail_context) + self.layout.row_overhead
        self.max_input_tokens = max_input_tokens
        self.text_budget = max_input_tokens - self.template_tokens
        if self.text_budget < _MIN_TEXT_BUDGET:
            raise ConfigurationError(
                f"max_input_tokens={max_input_tokens} leaves {self.text_budget} tokens for the "
                f"question and response after the {self.template_tokens}-token template; "
                f"raise it to at least {self.template_tokens + _MIN_TEXT_BUDGET}"
            )

    @property
    def empty_context_length(self) -> int:
        """Tokens of the context of an empty pair (the template alone)."""
        return self.prompt.template_length + len(self.tail_context)

    def answer_ids(self, afters: Sequence[str]) -> list[list[int]]:
        """Ids of an empty pair's prompt + answer prefix followed by each text of ``afters``."""
        body = self.prompt.body([], [])
        return [body + self.prompt.tail_ids(self._answer_prefix + after)[0] for after in afters]

    def _measure_layout(self, unsafe_word: str, safe_word: str) -> ContinuationLayout:
        base, with_unsafe, with_safe = (
            self.prompt.tail_ids(self._answer_prefix + word)[0] for word in ("", unsafe_word, safe_word)
        )
        shared = min(common_prefix_length(base, with_unsafe), common_prefix_length(base, with_safe))
        layout = ContinuationLayout(
            unsafe=tuple(with_unsafe[shared:]),
            safe=tuple(with_safe[shared:]),
            tail_length=len(base) - shared,
        )
        if not layout.unsafe or not layout.safe:
            raise ConfigurationError("an answer word tokenizes to nothing with this tokenizer")
        longer, shorter = layout.main, layout.other
        if longer[: len(shorter)] == shorter:
            raise ConfigurationError(
                f"the answer words {unsafe_word!r} and {safe_word!r} tokenize so that one is a "
                "token prefix of the other; their probabilities would not be exclusive"
            )
        return layout

    def contexts(self, pairs: Sequence[tuple[str, str]]) -> list[list[int]]:
        """Context ids per pair: prompt + answer prefix, less the re-tokenized prefix tail; texts
        over the budget are cut from the left, half the budget each, spare to the other."""
        contexts: list[list[int]] = []
        for question_ids, response_ids in self.prompt.texts(pairs):
            keep_q, keep_r = split_budget(len(question_ids), len(response_ids), self.text_budget)
            body = self.prompt.body(last_ids(question_ids, keep_q), last_ids(response_ids, keep_r))
            contexts.append(body + self.tail_context)
        return contexts


def last_ids(ids: list[int], keep: int) -> list[int]:
    return ids[len(ids) - keep :] if keep > 0 else []


def split_budget(n_question: int, n_response: int, budget: int) -> tuple[int, int]:
    """Share a token budget between question and response, half each, spare to the other."""
    if n_question + n_response <= budget:
        return n_question, n_response
    half = budget // 2
    if n_question <= half:
        return n_question, budget - n_question
    if n_response <= budget - half:
        return budget - n_response, n_response
    return half, budget - half
