"""Cutting a growing reply into pieces that are tokenized apart, the same way however it was chunked.

The streaming generative guard (:mod:`guardstream.guard.stream_generative`) keeps the keys and
values of the reply's tokens. A delta cannot be tokenized on its own (a BPE merge can cross the
chunk boundary, and a rebuild from the whole text would then hold other tokens than the stream
did), nor can the whole reply be tokenized again per chunk (O(reply)). So the reply is cut into
*pieces*, each tokenized on its own, by a rule that reads the text only, never where chunks fell:

* a cut at character ``i`` where the tokenizer's pre-tokenizer splits the text around it (its last
  :data:`LOOKBEHIND_CHARS` characters of the piece and the next :data:`LOOKAHEAD_CHARS`). No token
  crosses a pre-token split, so there the pieces' ids are the whole text's ids. The pre-tokenizer
  reads the raw text, so no such cut touches a format character (dropped before tokenizing: a word
  disguised with zero-width spaces must tokenize as the word) or comes before a combining mark (a
  normaliser composes it with the character before);
* a cut where a piece reaches :data:`MAX_PIECE_CHARS` characters with no such split (a long run of
  letters), so that the piece still open is short. Such a cut can change a merge or two against
  tokenizing the whole text: the one place where a streamed reply's tokens may differ from the
  one-pass scorer's.

A cut at ``i`` is decided once :data:`LOOKAHEAD_CHARS` characters follow it, and a decided cut is
never revisited, so the cuts of a text are a function of the text alone: a state rebuilt from the
text holds the very tokens the stream held. The text after the last cut (the *open* piece) is
tokenized again with each delta; only its tokens that changed are fed to the model again.
"""

from __future__ import annotations

import unicodedata

from guardstream.guard.plain_text import PlainTextTokenizer

LOOKAHEAD_CHARS = 4
"""Characters after a position that decide a pre-token split there (GPT-2 and Qwen pre-tokenizers
look one character ahead for spaces, three for English contractions such as ``'ll``)."""
LOOKBEHIND_CHARS = 16
"""Characters of the open piece before a position that the pre-tokenizer reads to split there."""
MAX_PIECE_CHARS = 32
"""The longest piece: the open piece is tokenized and fed again with each delta, so it bounds that
cost, and a cut inside a pre-token happens at most once per this many characters."""


def settled(chars: int) -> int:
    """The last position whose cut is decided once the reply has ``chars`` characters."""
    return max(chars - LOOKAHEAD_CHARS, 0)


class PieceCutter:
    """Where a reply is cut: the tokenizer's pre-token splits, and a cap on a piece's length."""

    def __init__(self, plain: PlainTextTokenizer) -> None:
        self._plain = plain

    def cuts(self, text: str, start: int, known: int) -> list[int]:
        """The cuts after the open piece's ``start`` that are decided once ``text``, of which the first
        ``known`` characters were already cut, is known: those at positions in
        ``(settled(known), settled(len(text))]``, in order."""
        found: list[int] = []
        for position in range(max(start, settled(known)) + 1, settled(len(text)) + 1):
            if position - start >= MAX_PIECE_CHARS or (
                not _joins(text[position - 1], text[position]) and self._splits(text, start, position)
            ):
                found.append(position)
                start = position
        return found

    def _splits(self, text: str, start: int, position: int) -> bool:
        low = max(start, position - LOOKBEHIND_CHARS)
        return position - low in self._plain.pre_token_starts(text[low : position + LOOKAHEAD_CHARS])


def _joins(before: str, after: str) -> bool:
    """True when the tokenizer sees these two characters differently apart than together."""
    return "Cf" in (unicodedata.category(before), unicodedata.category(after)) or unicodedata.category(after)[0] == "M"
