"""Ordinary Chinese words and how common each character is: the lexical evidence of the matcher.

The source is the word list with frequencies that ships with jieba (``jieba/dict.txt``, MIT, some
350,000 words counted over a general corpus); only its data is read, never its segmenter.
pypinyin's own phrase dictionary is no substitute: it holds only the phrases whose reading differs
from their characters' first readings, so ordinary words such as 紫砂 or 事实 are not in it.

A homophone of a listed term that is itself an ordinary word (紫砂 for 自杀), or that an ordinary
word cuts across (孩子杀鸡 holds 子杀, zi sha), is no hit: :class:`Lexicon` answers both questions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.resources import files

ORDINARY_MIN_COUNT = 5
"""A word counted fewer times than this in jieba's corpus is too rare to call ordinary (煞笔 has 3)."""
MAX_WORD_LENGTH = 4
COMMON_CHARS = 300
"""The most frequent characters (的 了 你 个 吧 …): a sound-alike spelled with them alone is more likely
ordinary talk than a disguise (你个 for 尼哥, 你马 for 尼玛), and is no hit."""


@dataclass(frozen=True, slots=True)
class Lexicon:
    words: frozenset[str]
    common_chars: frozenset[str] = frozenset()

    def is_word(self, text: str) -> bool:
        return text in self.words

    def only_common_chars(self, text: str) -> bool:
        """Whether every character of ``text`` is one of the most frequent characters."""
        return all(ch in self.common_chars for ch in text)

    def cuts_across(self, text: str, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` is an ordinary word, or an ordinary word runs across either edge of it."""
        if text[start:end] in self.words:
            return True
        words = self.words
        for edge in (start, end):
            for a in range(max(0, edge - MAX_WORD_LENGTH + 1), edge):
                for b in range(edge + 1, min(len(text), a + MAX_WORD_LENGTH) + 1):
                    if text[a:b] in words:
                        return True
        return False


@functools.cache
def ordinary_words(min_count: int = ORDINARY_MIN_COUNT) -> Lexicon:
    """The words of two to four characters counted at least ``min_count`` times (loaded once, ~0.5 s)."""
    words = set()
    for word, count in _entries():
        if 2 <= len(word) <= MAX_WORD_LENGTH and count >= min_count:
            words.add(word)
    by_count = sorted(char_counts().items(), key=lambda item: -item[1])
    return Lexicon(frozenset(words), frozenset(ch for ch, _ in by_count[:COMMON_CHARS]))


@functools.cache
def char_counts() -> dict[str, int]:
    """How often each single character is counted as a word of its own: a measure of how common it is."""
    return {word: count for word, count in _entries() if len(word) == 1}


def word_counts() -> tuple[tuple[str, int], ...]:
    """Every word of the source with its count, in the source's order."""
    return _entries()


@functools.cache
def _entries() -> tuple[tuple[str, int], ...]:
    text = (files("jieba") / "dict.txt").read_text(encoding="utf-8")
    entries = []
    for line in text.splitlines():
        word, count, _ = line.split(" ", 2)
        entries.append((word, int(count)))
    return tuple(entries)
