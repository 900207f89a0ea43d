"""Text normalisation for blocklist matching, with a map back to the original offsets.

:func:`normalise` owns the whole of it: NFKC (full-width → half-width, compatibility forms),
casefold, traditional → simplified (OpenCC ``t2s``, per character), look-alikes undone
(:data:`~guardstream.blocklist.charmaps.LOOKALIKES`), and every character that is not a letter or a
digit dropped: spaces, punctuation, symbols, emoji, combining marks, zero-width and other format
characters. A term and a text go through the same function, so whatever it folds together matches.

Two projections of a normalised text serve the sound-alike matching:

* :func:`syllables`: one toneless pinyin syllable per character (``|sha|bi|``), runs of Latin
  letters as they are (a writer mixing 傻bi; only a space ends a run there: 傻b.i is 傻bi), lone
  digits read aloud (4 for 死);
* :func:`latin_words`: the Latin words (``␣sha␣bi␣``), where full pinyin and initials are matched
  only as whole words, so ``sb`` never hits ``usb``; a space or a visible mark ends a word there,
  an invisible character does not.

:func:`fold` is the light normalisation exact terms use (NFKC and casefold only), and
:func:`split_spellings` spells a term with its split characters (拆字): the text is never composed,
the term is decomposed instead (see :data:`~guardstream.blocklist.charmaps.COMPOSITIONS`).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from guardstream.blocklist.charmaps import (
    COMPOSITIONS,
    DIGIT_SYLLABLES,
    LOOKALIKES,
    MEASURE_WORDS,
    RADICAL_SPELLINGS,
)

if TYPE_CHECKING:
    from opencc import OpenCC

_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Cc"})
_KEPT_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No"})
MAX_SPLIT_SPELLINGS = 64
"""A term with many splittable characters is spelled at most this many ways."""


@dataclass(frozen=True, slots=True)
class Normalised:
    """A text after normalisation; character ``k`` of :attr:`text` came from ``original[starts[k]:ends[k]]``."""

    text: str
    starts: Sequence[int]
    ends: Sequence[int]
    original: str

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original offsets of the normalised characters [start, end)."""
        return self.starts[start], self.ends[end - 1]

    def gap_before(self, k: int) -> Gap:
        """What was dropped between characters k-1 and k: nothing, only invisible characters, a mark, a space."""
        if k == 0 or self.starts[k] == self.ends[k - 1]:
            return Gap.NONE
        return gap_kind(self.original[self.ends[k - 1] : self.starts[k]])


class Gap(IntEnum):
    """What stood between two kept characters, from least to most separating."""

    NONE = 0
    INVISIBLE = 1
    """Zero-width and other format characters, combining marks: nothing a reader sees."""
    MARK = 2
    """Punctuation, symbols, emoji."""
    SPACE = 3


def gap_kind(dropped: str) -> Gap:
    if not dropped:
        return Gap.NONE
    if any(ch.isspace() for ch in dropped):
        return Gap.SPACE
    if all(unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in dropped):
        return Gap.INVISIBLE
    return Gap.MARK


@dataclass(frozen=True, slots=True)
class Projection:
    """A projection of a :class:`Normalised` text: tokens, each after one separator (``|sha|bi|``).

    Token ``t``'s separator stands at ``text[token_at[t]]``; the token covers the normalised characters
    [firsts[t], lasts[t]). A last separator closes the text. Keys begin and end with a separator.
    """

    text: str
    token_at: Sequence[int]
    firsts: Sequence[int]
    lasts: Sequence[int]

    def normalised_span(self, start: int, end: int) -> tuple[int, int]:
        """The normalised characters [a, b) that a match of ``text[start:end]``, separator to separator, covers."""
        first_token = bisect.bisect_right(self.token_at, start) - 1
        after_token = bisect.bisect_right(self.token_at, end - 1) - 1
        return self.firsts[first_token], self.lasts[after_token - 1]


def normalise(text: str) -> Normalised:
    """The text with every variant this module knows undone, and where each character came from."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    cache = _VARIANT_CHARS
    for i, ch in enumerate(text):
        mapped = cache.get(ch)
        if mapped is None:
            mapped = cache[ch] = _variant_char(ch)
        for piece in mapped:
            out.append(piece)
            starts.append(i)
            ends.append(i + 1)
    return Normalised("".join(out), starts, ends, text)


def fold(text: str) -> Normalised:
    """NFKC and casefold only: what an ``exact`` term is matched against."""
    if text.isascii():
        return Normalised(text.lower(), range(len(text)), range(1, len(text) + 1), text)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    cache = _FOLDED_CHARS
    for i, ch in enumerate(text):
        mapped = cache.get(ch)
        if mapped is None:
            mapped = cache[ch] = unicodedata.normalize("NFKC", ch).casefold()
        for piece in mapped:
            out.append(piece)
            starts.append(i)
            ends.append(i + 1)
    return Normalised("".join(out), starts, ends, text)


def is_word_char(ch: str) -> bool:
    """A character that continues a Latin word (ASCII letters and digits, after NFKC and casefold)."""
    return ch.isascii() and ch.isalnum()


def char_syllable(ch: str) -> str | None:
    """The toneless pinyin of a CJK character's first (most common) reading; None for anything else."""
    found = _SYLLABLES.get(ch)
    if found is None:
        found = _SYLLABLES[ch] = _read_syllable(ch)
    return found or None


def syllables(normalised: Normalised) -> Projection:
    """``|syl|syl|…|``: a token per CJK character, per run of Latin letters, per lone digit; ``#`` for others.

    A run of digits next to Latin letters (``mp3``, ``4s``) or followed by a measure word (``4楼``,
    ``2024年``) is a number, not digits read aloud, and becomes ``#``.
    """
    text = normalised.text
    tokens = _Tokens("|")
    cache = _SYLLABLES
    k = 0
    n = len(text)
    while k < n:
        ch = text[k]
        syllable = cache.get(ch)
        if syllable is None:
            syllable = cache[ch] = _read_syllable(ch)
        if syllable:
            tokens.add(syllable, k, k + 1)
            k += 1
            continue
        end = k + 1
        if ch.isascii() and ch.isalpha():
            while end < n and text[end].isascii() and text[end].isalpha() and normalised.gap_before(end) < Gap.SPACE:
                end += 1
            tokens.add(text[k:end], k, end)
        elif ch.isascii() and ch.isdigit():
            while end < n and text[end].isascii() and text[end].isdigit():
                end += 1
            after = text[end] if end < n else ""
            if after in MEASURE_WORDS or is_word_char(after) or (k > 0 and is_word_char(text[k - 1])):
                tokens.add("#", k, end)
            else:
                for j in range(k, end):
                    tokens.add(DIGIT_SYLLABLES[text[j]], j, j + 1)
        else:
            tokens.add("#", k, end)
        k = end
    return tokens.projection()


def latin_words(normalised: Normalised) -> Projection:
    """``␣word␣word␣``: the runs of ASCII letters and digits, split wherever anything stood between them."""
    text = normalised.text
    tokens = _Tokens(" ")
    k = 0
    n = len(text)
    while k < n:
        if not is_word_char(text[k]):
            k += 1
            continue
        end = k + 1
        while end < n and is_word_char(text[end]) and normalised.gap_before(end) < Gap.MARK:
            end += 1
        tokens.add(text[k:end], k, end)
        k = end
    return tokens.projection()


class _Tokens:
    """Builds a :class:`Projection` token by token."""

    def __init__(self, separator: str) -> None:
        self.separator = separator
        self.parts: list[str] = []
        self.token_at: list[int] = []
        self.firsts: list[int] = []
        self.lasts: list[int] = []
        self.position = 0

    def add(self, token: str, first: int, last: int) -> None:
        self.parts.append(token)
        self.token_at.append(self.position)
        self.firsts.append(first)
        self.lasts.append(last)
        self.position += len(token) + 1

    def projection(self) -> Projection:
        self.token_at.append(self.position)
        text = self.separator + self.separator.join(self.parts) + self.separator if self.parts else self.separator
        return Projection(text, self.token_at, self.firsts, self.lasts)


def split_spellings(term: str) -> list[str]:
    """The term with any of its characters written split (弓虽奸 for 强奸), the plain spelling excluded."""
    options: list[list[str]] = []
    for ch in term:
        choices = [ch]
        parts = COMPOSITIONS.get(ch)
        if parts is not None:
            for left in (parts[0], *RADICAL_SPELLINGS.get(parts[0], ())):
                for right in (parts[1], *RADICAL_SPELLINGS.get(parts[1], ())):
                    choices.append(left + right)
        options.append(choices)
    spellings = ("".join(choice) for choice in itertools.product(*options))
    return [spelling for spelling in itertools.islice(spellings, MAX_SPLIT_SPELLINGS + 1) if spelling != term]


def to_simplified(text: str) -> str:
    converted: str = _opencc("t2s").convert(text)
    return converted


def to_traditional(text: str) -> str:
    converted: str = _opencc("s2t").convert(text)
    return converted


# Per-character results, filled as characters are first seen (a chat stream uses a few thousand).
_VARIANT_CHARS: dict[str, str] = {}
_FOLDED_CHARS: dict[str, str] = {}
_SYLLABLES: dict[str, str] = {}


def _variant_char(ch: str) -> str:
    out = []
    for piece in unicodedata.normalize("NFKC", ch).casefold():
        piece = LOOKALIKES.get(piece, piece)
        if unicodedata.category(piece) not in _KEPT_CATEGORIES:
            continue
        if not piece.isascii():
            piece = to_simplified(piece)
        out.append(piece)
    return "".join(out)


def _read_syllable(ch: str) -> str:
    if ch.isascii() or not ch.isalpha():
        return ""
    from pypinyin import lazy_pinyin

    reading = lazy_pinyin(ch, errors="ignore")
    return reading[0] if reading else ""


@functools.cache
def _opencc(config: str) -> OpenCC:
    from opencc import OpenCC

    return OpenCC(config)
