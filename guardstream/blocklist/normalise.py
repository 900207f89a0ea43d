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
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
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


class Normalised:
    """A text after normalisation; character ``k`` of :attr:`text` came from ``original[starts[k]:ends[k]]``.

    The text is made in one ``str.translate``; the offsets are worked out only when asked for (a
    projection with Latin letters in it, or a hit), which most chat lines never need.
    """

    __slots__ = ("_ends", "_starts", "_table", "original", "text")

    def __init__(self, text: str, original: str, table: _CharTable) -> None:
        self.text = text
        self.original = original
        self._table = table
        self._starts: list[int] | None = None
        self._ends: list[int] | None = None

    @property
    def starts(self) -> Sequence[int]:
        if self._starts is None:
            self._map()
        assert self._starts is not None
        return self._starts

    @property
    def ends(self) -> Sequence[int]:
        if self._ends is None:
            self._map()
        assert self._ends is not None
        return self._ends

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original offsets of the normalised characters [start, end)."""
        return self.starts[start], self.ends[end - 1]

    def gap_before(self, k: int) -> Gap:
        """What was dropped between characters k-1 and k: nothing, only invisible characters, a mark, a space."""
        if k == 0 or self.starts[k] == self.ends[k - 1]:
            return Gap.NONE
        return gap_kind(self.original[self.ends[k - 1] : self.starts[k]])

    def _map(self) -> None:
        starts: list[int] = []
        ends: list[int] = []
        table = self._table
        for i, ch in enumerate(self.original):
            width = len(table[ord(ch)])
            if width:
                starts.extend([i] * width)
                ends.extend([i + 1] * width)
        self._starts, self._ends = starts, ends

    def __repr__(self) -> str:
        return f"Normalised({self.text!r}, original={self.original!r})"


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
    Without ``token_at``, token ``t`` is normalised character ``t`` (a text of CJK characters only).
    """

    text: str
    token_at: Sequence[int] | None = None
    firsts: Sequence[int] = ()
    lasts: Sequence[int] = ()

    def normalised_span(self, start: int, end: int) -> tuple[int, int]:
        """The normalised characters [a, b) that a match of ``text[start:end]``, separator to separator, covers."""
        if self.token_at is None:
            separator = self.text[0]
            return self.text.count(separator, 0, start), self.text.count(separator, 0, end - 1)
        first_token = bisect.bisect_right(self.token_at, start) - 1
        after_token = bisect.bisect_right(self.token_at, end - 1) - 1
        return self.firsts[first_token], self.lasts[after_token - 1]


class _CharTable(dict[int, str]):
    """A ``str.translate`` table that works out each character's mapping the first time it is seen."""

    def __init__(self, mapping: Callable[[str], str]) -> None:
        super().__init__()
        self._mapping = mapping

    def __missing__(self, code: int) -> str:
        mapped = self[code] = self._mapping(chr(code))
        return mapped


def normalise(text: str) -> Normalised:
    """The text with every variant this module knows undone, and where each character came from."""
    return Normalised(text.translate(_VARIANT_TABLE), text, _VARIANT_TABLE)


def fold(text: str) -> Normalised:
    """NFKC and casefold only: what an ``exact`` term is matched against."""
    return Normalised(text.translate(_FOLD_TABLE), text, _FOLD_TABLE)


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

    A run of Latin letters beside a CJK character is cut into pinyin syllables where it can be
    (``xiaori本`` is xiao|ri|ben); elsewhere a run stays whole (the latin projection matches pinyin).
    A run of digits next to Latin letters (``mp3``, ``4s``) or followed by a measure word (``4楼``,
    ``2024年``) is a number, not digits read aloud, and becomes ``#``.
    """
    text = normalised.text
    if not _ASCII_ALNUM.search(text):
        return Projection(text.translate(_SYLLABLE_TABLE) + "|")
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
            letters = _LETTERS.match(text, k)
            end = letters.end() if letters else end
            for a, b in _split_run(normalised, k, end, Gap.SPACE):
                touches_han = (a > 0 and bool(char_syllable(text[a - 1]))) or (b < n and bool(char_syllable(text[b])))
                pieces = pinyin_pieces(text[a:b]) if touches_han else None
                if pieces is None:
                    tokens.add(text[a:b], a, b)
                    continue
                for piece in pieces:
                    tokens.add(piece, a, a + len(piece))
                    a += len(piece)
        elif ch.isascii() and ch.isdigit():
            digits = _DIGITS.match(text, k)
            end = digits.end() if digits else end
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
    if not _ASCII_ALNUM.search(text):
        return tokens.projection()
    for run in _ASCII_WORD.finditer(text):
        for a, b in _split_run(normalised, run.start(), run.end(), Gap.MARK):
            tokens.add(text[a:b], a, b)
    return tokens.projection()


def _split_run(normalised: Normalised, start: int, end: int, breaking: Gap) -> Iterator[tuple[int, int]]:
    """The run of normalised characters [start, end) cut wherever a gap at least as wide as ``breaking`` was."""
    starts, ends = normalised.starts, normalised.ends
    if ends[end - 1] - starts[start] == end - start:
        yield start, end
        return
    original = normalised.original
    piece_start = start
    for j in range(start + 1, end):
        if starts[j] != ends[j - 1] and gap_kind(original[ends[j - 1] : starts[j]]) >= breaking:
            yield piece_start, j
            piece_start = j
    yield piece_start, end


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


def pinyin_pieces(run: str) -> list[str] | None:
    """``run`` cut into toneless pinyin syllables, longest first (``xiaori`` → xiao, ri); None if it cannot be."""
    syllables = _pinyin_syllables()
    found: dict[int, list[str] | None] = {len(run): []}

    def cut(start: int) -> list[str] | None:
        if start in found:
            return found[start]
        found[start] = None
        for end in range(min(len(run), start + 6), start, -1):
            if run[start:end] in syllables:
                rest = cut(end)
                if rest is not None:
                    found[start] = [run[start:end], *rest]
                    break
        return found[start]

    return cut(0)


@functools.cache
def _pinyin_syllables() -> frozenset[str]:
    """Every toneless syllable of pypinyin's character readings (some 410)."""
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    return frozenset(to_normal(reading) for readings in pinyin_dict.values() for reading in readings.split(","))


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


def _fold_char(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch).casefold()


def _syllable_token(ch: str) -> str:
    return "|" + (char_syllable(ch) or "#")


# Per-character results, filled as characters are first seen (a chat stream uses a few thousand).
_SYLLABLES: dict[str, str] = {}
_VARIANT_TABLE = _CharTable(lambda ch: _variant_char(ch))
_FOLD_TABLE = _CharTable(_fold_char)
_SYLLABLE_TABLE = _CharTable(_syllable_token)
_ASCII_ALNUM = re.compile(r"[0-9a-z]")
_ASCII_WORD = re.compile(r"[0-9a-z]+")
_LETTERS = re.compile(r"[a-z]+")
_DIGITS = re.compile(r"[0-9]+")


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
