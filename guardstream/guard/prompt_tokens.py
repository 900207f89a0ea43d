"""The Libra-Guard prompt in token ids: template text with the tokenizer's own tokens, user text plain.

The prompt is rendered once through the checkpoint's chat template with two markers in place of
the question and the response; the text around them is the template's ``head``, ``middle`` and
``tail``. A pair's ids are ``head + plain(question) + middle + plain(response)``, then the tail
with whatever follows it (the answer prefix in score and explain mode, the whole verdict in
training). Template pieces keep their special tokens (``<|im_start|>``…); the question and the
response go through :class:`~guardstream.guard.plain_text.PlainTextTokenizer`, so nothing a user
writes can close the turn or answer for the guard. Each piece is encoded on its own, so cutting a
text to fit is cutting its ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from guardstream.errors import ConfigurationError
from guardstream.guard.plain_text import PlainTextTokenizer
from guardstream.guard.prompt import build_prompt_text

_QUESTION_MARK = "\ue000question\ue000"
_RESPONSE_MARK = "\ue000response\ue000"


class PromptTokens:
    """Token ids of the guard prompt for (question, response) pairs."""

    def __init__(self, tokenizer: Any) -> None:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ConfigurationError(
                "the guard checkpoint's tokenizer has no chat_template; the Libra-Guard prompt is "
                "rendered through it (add one to tokenizer_config.json)"
            )
        self._tokenizer = tokenizer
        self.plain = PlainTextTokenizer(tokenizer)
        rendered = build_prompt_text(tokenizer, _QUESTION_MARK, _RESPONSE_MARK)
        head, rest = _split_once(rendered, _QUESTION_MARK)
        middle, self.tail = _split_once(rest, _RESPONSE_MARK)
        if head + middle + self.tail != build_prompt_text(tokenizer, "", ""):
            raise ConfigurationError(
                "the chat template changes the text around the question and response; it must insert them as given"
            )
        self.head_ids, self.middle_ids = self._template_ids(head), self._template_ids(middle)

    def _template_ids(self, text: str) -> list[int]:
        return list(self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def texts(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """(question ids, response ids) per pair, as plain text."""
        ids = self.plain.ids([text for pair in pairs for text in pair])
        return [(ids[2 * i], ids[2 * i + 1]) for i in range(len(pairs))]

    def body(self, question_ids: Sequence[int], response_ids: Sequence[int]) -> list[int]:
        """The prompt's ids up to the template's tail."""
        return [*self.head_ids, *question_ids, *self.middle_ids, *response_ids]

    @property
    def template_length(self) -> int:
        """Tokens of the template before its tail (head and middle)."""
        return len(self.head_ids) + len(self.middle_ids)

    def tail_ids(self, after: str) -> tuple[list[int], list[tuple[int, int]]]:
        """The template's tail followed by ``after`` (template text, never user text): its ids and
        each token's character span relative to the start of ``after`` (negative: in the tail)."""
        encoded = self._tokenizer(
            self.tail + after, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        shift = len(self.tail)
        return list(encoded["input_ids"]), [(start - shift, end - shift) for start, end in encoded["offset_mapping"]]


def _split_once(text: str, mark: str) -> tuple[str, str]:
    before, found, after = text.partition(mark)
    if not found or mark in after:
        raise ConfigurationError("the chat template must place the user's message exactly once")
    return before, after
