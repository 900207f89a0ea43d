"""User-controlled text → token ids, always as plain text: the one owner of that step.

Question, response, context turns and metadata are written by users. A tokenizer that matches its
special and added tokens inside them (``<|im_end|>``, ``[SEP]``, the answer words a guard's
tokenizer adds as whole tokens) lets a user write the template, or the guard's answer, with the
very ids the model reads as its own. Here a user's text goes through the tokenizer's normaliser,
pre-tokenizer and model only: its added vocabulary (special tokens included) is left out, so those
strings become ordinary pieces. Format characters that render as nothing (zero-width spaces and
joiners, bidirectional controls, the byte-order mark) are dropped first, as BERT's normaliser
already does: a disguise made of them reads as the text it hides.

Every path that turns user text into ids (score and explain mode, the fast guard, training and
evaluation) calls :class:`PlainTextTokenizer`; template text (the prompt's instruction, the answer
prefix, the pair template's ``[CLS]``/``[SEP]``) keeps the tokenizer's own handling.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import Any

from tokenizers import Encoding, Tokenizer

from guardstream.errors import ConfigurationError


def visible(text: str) -> str:
    """``text`` without Unicode format characters (category Cf), which render as nothing."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


class PlainTextTokenizer:
    """Encodes user text with a Hugging Face fast tokenizer's model, never its added vocabulary."""

    def __init__(self, tokenizer: Any) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ConfigurationError(
                f"{type(tokenizer).__name__} is not a fast (Rust-backed) tokenizer; user text is encoded "
                "through one so that it never yields special or added tokens"
            )
        spec = json.loads(backend.to_str())
        spec["added_tokens"] = []
        spec["truncation"] = None
        spec["padding"] = None
        self._spec = json.dumps(spec)
        self._backend = Tokenizer.from_str(self._spec)
        self._pair_backends: dict[int, Tokenizer] = {}
        self.truncation_side = str(getattr(tokenizer, "truncation_side", "right"))
        self.reserved_ids: frozenset[int] = frozenset(
            int(i) for i in getattr(tokenizer, "added_tokens_decoder", {})
        ) | frozenset(int(i) for i in getattr(tokenizer, "all_special_ids", ()))
        """Ids of the tokenizer's special and added tokens: user text never yields them."""

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, no template tokens around them."""
        if not texts:
            return []
        return [list(e.ids) for e in self._backend.encode_batch([visible(t) for t in texts], add_special_tokens=False)]

    def pre_token_starts(self, text: str) -> list[int]:
        """Where the tokenizer's pre-tokenizer starts a piece of ``text`` (after its first): no token
        spans one of these, so the text either side tokenizes on its own as it does in the whole.
        Read on the text as given (format characters kept); none when there is no pre-tokenizer."""
        pre_tokenizer = self._backend.pre_tokenizer
        if pre_tokenizer is None:
            return []
        return [start for _, (start, _) in pre_tokenizer.pre_tokenize_str(text) if start > 0]

    def with_offsets(self, text: str) -> tuple[str, list[tuple[int, int]]]:
        """The text as encoded (format characters dropped) and its tokens' character offsets in it."""
        shown = visible(text)
        return shown, [tuple(o) for o in self._backend.encode(shown, add_special_tokens=False).offsets]  # type: ignore[misc]  # the offsets are (start, end) pairs; tuple() of one is sized at runtime only

    def pairs(self, pairs: Sequence[tuple[str, str]], max_length: int) -> list[Encoding]:
        """Each pair in the tokenizer's own pair template (``[CLS] q [SEP] r [SEP]`` for BERT), the
        texts as plain text, trimmed longest side first to ``max_length`` tokens in all."""
        backend = self._pair_backends.get(max_length)
        if backend is None:
            backend = self._pair_backends[max_length] = Tokenizer.from_str(self._spec)
            backend.enable_truncation(max_length, strategy="longest_first", direction=self.truncation_side)
        return list(backend.encode_batch([(visible(q), visible(r)) for q, r in pairs], add_special_tokens=True))
