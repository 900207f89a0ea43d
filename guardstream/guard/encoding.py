"""Token-level layout of score mode: prompt + forced answer prefix, then the continuation words.

The guard is asked to continue ``<chat prompt>{ANSWER_PREFIX}`` with either ``不安全`` or
``安全``. To read those probabilities from one forward pass the token boundaries must be the ones
the model would produce when generating, so the continuation token ids are found by tokenizing
``prompt + prefix`` and ``prompt + prefix + word`` and taking the difference. When a BPE merge
crosses the boundary (the last tokens of the prefix change once a word follows), the shared part
is cut back to the longest common token prefix of all three sequences, and the re-tokenized tail
of the prefix becomes part of both continuations. That tail is common to both words, so the ratio
P(unsafe) / (P(unsafe) + P(safe)) is unchanged. The chat template's end is the same text for
every pair (special tokens break pre-tokenization), so the layout is measured once on a probe.

Over-long pairs are cut from the left of the question and response texts, never in the template
or the answer prefix, so that every row stays within ``max_input_tokens``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guardstream.errors import ConfigurationError
from guardstream.guard.prompt import ANSWER_PREFIX, SAFE_WORD, UNSAFE_WORD, build_prompt_text

logger = logging.getLogger(__name__)

_MIN_TEXT_BUDGET = 16
_MAX_TRUNCATION_ROUNDS = 6


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
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class PromptEncoder:
    """Turns (question, response) pairs into context token ids ready for score mode."""

    def __init__(
        self,
        tokenizer: Any,
        max_input_tokens: int,
        *,
        answer_prefix: str = ANSWER_PREFIX,
        unsafe_word: str = UNSAFE_WORD,
        safe_word: str = SAFE_WORD,
    ) -> None:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ConfigurationError(
                "the guard checkpoint's tokenizer has no chat_template; score mode renders the "
                "Libra-Guard prompt through it (add one to tokenizer_config.json)"
            )
        self._tokenizer = tokenizer
        self._answer_prefix = answer_prefix
        self.layout = self._measure_layout(unsafe_word, safe_word)
        probe = self._encode_texts([self._full_text("", "")])[0]
        self.template_tokens = len(probe) - self.layout.tail_length + self.layout.row_overhead
        self.max_input_tokens = max_input_tokens
        self.text_budget = max_input_tokens - self.template_tokens
        if self.text_budget < _MIN_TEXT_BUDGET:
            raise ConfigurationError(
                f"max_input_tokens={max_input_tokens} leaves {self.text_budget} tokens for the "
                f"question and response after the {self.template_tokens}-token template; "
                f"raise it to at least {self.template_tokens + _MIN_TEXT_BUDGET}"
            )

    def _full_text(self, question: str, response: str) -> str:
        return build_prompt_text(self._tokenizer, question, response) + self._answer_prefix

    def probe(self) -> tuple[str, int]:
        """The prompt + answer prefix text of an empty pair, and how many tokens its context keeps."""
        text = self._full_text("", "")
        return text, len(self._encode_texts([text])[0]) - self.layout.tail_length

    def encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        return self._encode_texts(texts)

    def _encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        encoded = self._tokenizer(list(texts), add_special_tokens=False, verbose=False)
        return [list(ids) for ids in encoded["input_ids"]]

    def _measure_layout(self, unsafe_word: str, safe_word: str) -> ContinuationLayout:
        probe_text = self._full_text("", "")
        base, with_unsafe, with_safe = self._encode_texts(
            [probe_text, probe_text + unsafe_word, probe_text + safe_word]
        )
        shared = min(
            common_prefix_length(base, with_unsafe), common_prefix_length(base, with_safe)
        )
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
        """Context ids per pair: prompt + answer prefix, less the re-tokenized prefix tail."""
        texts = [self._full_text(q, r) for q, r in pairs]
        encoded = self._encode_texts(texts)
        limit = self.max_input_tokens - self.layout.row_overhead
        for i, ids in enumerate(encoded):
            if len(ids) - self.layout.tail_length > limit:
                encoded[i] = self._truncated(pairs[i], len(ids) - self.layout.tail_length - limit)
        tail = self.layout.tail_length
        return [ids[: len(ids) - tail] for ids in encoded]

    def _truncated(self, pair: tuple[str, str], excess: int) -> list[int]:
        """Re-encode a pair with its texts cut from the left until the row fits."""
        question, response = pair
        limit = self.max_input_tokens - self.layout.row_overhead
        q_ids, r_ids = self._encode_texts([question, response])
        budget = len(q_ids) + len(r_ids) - excess
        for _ in range(_MAX_TRUNCATION_ROUNDS):
            keep_q, keep_r = _split_budget(len(q_ids), len(r_ids), max(budget, 0))
            q_cut = self._keep_last_tokens(question, keep_q)
            r_cut = self._keep_last_tokens(response, keep_r)
            ids = self._encode_texts([self._full_text(q_cut, r_cut)])[0]
            overshoot = len(ids) - self.layout.tail_length - limit
            if overshoot <= 0:
                return ids
            budget -= overshoot
        logger.warning("pair still over %d tokens after truncation; judged with empty texts", limit)
        return self._encode_texts([self._full_text("", "")])[0]

    def _keep_last_tokens(self, text: str, keep: int) -> str:
        """The shortest suffix of ``text`` holding its last ``keep`` tokens."""
        if keep <= 0 or not text:
            return ""
        if getattr(self._tokenizer, "is_fast", False):
            enc = self._tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
            )
            offsets = enc["offset_mapping"]
            if keep >= len(offsets):
                return text
            return text[offsets[len(offsets) - keep][0] :]
        ids = self._encode_texts([text])[0]
        if keep >= len(ids):
            return text
        return str(self._tokenizer.decode(ids[-keep:]))


def _split_budget(n_question: int, n_response: int, budget: int) -> tuple[int, int]:
    """Share a token budget between question and response, half each, spare to the other."""
    if n_question + n_response <= budget:
        return n_question, n_response
    half = budget // 2
    if n_question <= half:
        return n_question, budget - n_question
    if n_response <= budget - half:
        return budget - n_response, n_response
    return half, budget - half
