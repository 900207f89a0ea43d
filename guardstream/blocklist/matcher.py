"""One Aho-Corasick automaton over every term of every list, and the guards against false hits.

Each term is entered under the keys of the projections it is matched in (a key may serve several
terms and several projections; each entry says which):

========== ================================================= =======================================
projection what it holds                                      keys of a term
========== ================================================= =======================================
folded     NFKC + casefold (:func:`normalise.fold`)          an ``exact`` term, folded
text       :func:`normalise.normalise`                        a ``variant`` term with CJK in it,
                                                              normalised, and its split spellings
latin      :func:`normalise.latin_words` (``␣sha␣bi␣``)       Latin terms, the term's full pinyin
                                                              (joined or spaced), its initials
syllable   :func:`normalise.syllables` (``|sha|bi|``)         its toneless syllables (homophones)
========== ================================================= =======================================

Guards (the Scunthorpe problem): a key that begins or ends with a Latin letter or digit in the
folded or text projection hits only where the original text has no letter or digit beside it; the
latin projection's keys carry their spaces, so they hit whole words only; initials are taken only
from terms of three or more syllables (two letters say too little: ``db``, ``sr``), and never from a
Title-case word (``Amy`` is a name, not 安眠药); a homophone hit is dropped when the characters it
covers are an ordinary word, or an ordinary word runs across its edge, or they are all among the most
common characters (你个 is no 尼哥): :class:`lexicon.Lexicon` holds that evidence.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from guardstream.blocklist import normalise as norm
from guardstream.blocklist.lexicon import Lexicon, ordinary_words
from guardstream.blocklist.model import Blocklist, BlocklistTerm, Hit, MatchMode

MIN_INITIALS_SYLLABLES = 3
MAX_SPACED_SYLLABLES = 5
"""Full pinyin of up to this many syllables is also keyed with every choice of spaces between them."""


class Projection(IntEnum):
    FOLDED = 0
    TEXT = 1
    LATIN = 2
    SYLLABLE = 3


# How a hit matched (Hit.variant), best first: overlapping hits of one term keep the best.
HOW_RANK = {"exact": 0, "normalised": 1, "pinyin": 2, "initials": 3, "homophone": 4}


@dataclass(frozen=True, slots=True)
class _Entry:
    projection: Projection
    list_index: int
    term_index: int
    how: str
    word_edges: tuple[bool, bool] = (False, False)
    """In the folded and text projections: the key's first/last character continues a Latin word."""
    spaces_at: frozenset[int] | None = None
    """A Latin term in the text projection, where whatever stood inside it is gone: after how many of its
    letters the term itself has a space (see :func:`_spaces_hold`)."""


@dataclass(frozen=True, slots=True)
class _Candidate:
    list_index: int
    term_index: int
    start: int
    end: int
    how: str


class BlocklistMatcher:
    """Finds the listed terms, and their variants, in a text; built once per set of lists."""

    def __init__(self, lists: Sequence[Blocklist], automaton: Any, lexicon: Lexicon, key_count: int) -> None:
        self._lists = tuple(lists)
        self._automaton = automaton
        self._lexicon = lexicon
        self._has_exact = any(t.match is MatchMode.EXACT for lst in lists for t in lst.terms)
        self.key_count = key_count

    @classmethod
    def build(cls, lists: Sequence[Blocklist], *, lexicon: Lexicon | None = None) -> BlocklistMatcher:
        import ahocorasick

        keys: dict[str, list[_Entry]] = {}
        for list_index, blocklist in enumerate(lists):
            for term_index, term in enumerate(blocklist.terms):
                for key, entry in _keys(term, list_index, term_index):
                    entries = keys.setdefault(key, [])
                    if entry not in entries:
                        entries.append(entry)
        automaton = ahocorasick.Automaton()
        for key, entries in keys.items():
            automaton.add_word(key, (len(key), tuple(entries)))
        if keys:
            automaton.make_automaton()
        return cls(lists, automaton, lexicon if lexicon is not None else ordinary_words(), len(keys))

    @property
    def lists(self) -> tuple[Blocklist, ...]:
        return self._lists

    def find(self, text: str) -> list[Hit]:
        """Every listed term found in ``text``, with offsets into ``text`` itself, in order of start."""
        if self.key_count == 0 or not text:
            return []
        normalised = norm.normalise(text)
        candidates = list(self._text_hits(text, normalised))
        if self._has_exact:
            candidates.extend(self._folded_hits(text))
        candidates.extend(self._latin_hits(text, normalised))
        candidates.extend(self._homophone_hits(normalised))
        return self._best(candidates)

    def _matches(self, projected: str, projection: Projection) -> Iterator[tuple[int, int, _Entry]]:
        for last, (length, entries) in self._automaton.iter(projected):
            for entry in entries:
                if entry.projection is projection:
                    yield last + 1 - length, last + 1, entry

    def _folded_hits(self, text: str) -> Iterator[_Candidate]:
        folded = norm.fold(text)
        for a, b, entry in self._matches(folded.text, Projection.FOLDED):
            start, end = folded.original_span(a, b)
            if _word_edges_hold(text, start, end, entry.word_edges):
                yield _Candidate(entry.list_index, entry.term_index, start, end, "exact")

    def _text_hits(self, text: str, normalised: norm.Normalised) -> Iterator[_Candidate]:
        for a, b, entry in self._matches(normalised.text, Projection.TEXT):
            start, end = normalised.original_span(a, b)
            if not _word_edges_hold(text, start, end, entry.word_edges):
                continue
            if entry.spaces_at is not None and not _spaces_hold(text[start:end], entry.spaces_at):
                continue
            how = "exact" if self._spelled_as_listed(text[start:end], entry) else "normalised"
            yield _Candidate(entry.list_index, entry.term_index, start, end, how)

    def _latin_hits(self, text: str, normalised: norm.Normalised) -> Iterator[_Candidate]:
        latin = norm.latin_words(normalised)
        if len(latin.text) <= 1:
            return
        for a, b, entry in self._matches(latin.text, Projection.LATIN):
            start, end = normalised.original_span(*latin.normalised_span(a, b))
            if entry.how == "initials" and _title_case(text[start:end]):
                continue
            if entry.how == "pinyin" and _spaced_lone_letter(text[start:end]):
                continue
            how = entry.how
            if how == "normalised" and self._spelled_as_listed(text[start:end], entry):
                how = "exact"
            yield _Candidate(entry.list_index, entry.term_index, start, end, how)

    def _homophone_hits(self, normalised: norm.Normalised) -> Iterator[_Candidate]:
        projected = norm.syllables(normalised)
        for a, b, entry in self._matches(projected.text, Projection.SYLLABLE):
            first, last = projected.normalised_span(a, b)
            covered = normalised.text[first:last]
            if self._lexicon.only_common_chars(covered) or self._lexicon.cuts_across(normalised.text, first, last):
                continue
            start, end = normalised.original_span(first, last)
            yield _Candidate(entry.list_index, entry.term_index, start, end, "homophone")

    def _spelled_as_listed(self, found: str, entry: _Entry) -> bool:
        term = self._lists[entry.list_index].terms[entry.term_index].term
        return norm.fold(found).text == norm.fold(term).text

    def _best(self, candidates: list[_Candidate]) -> list[Hit]:
        candidates.sort(key=lambda c: (HOW_RANK[c.how], c.start, c.end))
        kept: dict[tuple[int, int], list[_Candidate]] = {}
        for candidate in candidates:
            same_term = kept.setdefault((candidate.list_index, candidate.term_index), [])
            if any(candidate.start < other.end and other.start < candidate.end for other in same_term):
                continue
            same_term.append(candidate)
        hits = [self._hit(c) for c in itertools.chain.from_iterable(kept.values())]
        hits.sort(key=lambda hit: (hit.start, hit.end, hit.list_name, hit.term.term))
        return hits

    def _hit(self, candidate: _Candidate) -> Hit:
        blocklist = self._lists[candidate.list_index]
        return Hit(
            list_name=blocklist.name,
            list_version=blocklist.version,
            effect=blocklist.effect,
            raise_to=blocklist.raise_to,
            term=blocklist.terms[candidate.term_index],
            start=candidate.start,
            end=candidate.end,
            variant=candidate.how,
        )


def term_readings(term: str) -> list[list[str]]:
    """The term's syllables, one list per way of reading it: in context (行长: hang zhang), and char by char."""
    from pypinyin import lazy_pinyin

    normalised = norm.normalise(term).text
    tokens = _tokens(normalised)
    readings = []
    by_char = [norm.char_syllable(token) or token if len(token) == 1 else token for token in tokens]
    in_context: list[str] = []
    for token in tokens:
        if len(token) == 1 and norm.char_syllable(token):
            in_context.append("")
        else:
            in_context.append(token)
    han = "".join(token for token in tokens if len(token) == 1 and norm.char_syllable(token))
    context_syllables = iter(lazy_pinyin(han, errors="ignore")) if han else iter(())
    in_context = [token or next(context_syllables, "") for token in in_context]
    for reading in (in_context, by_char):
        if all(reading) and reading not in readings:
            readings.append(reading)
    return readings


def _keys(term: BlocklistTerm, list_index: int, term_index: int) -> Iterator[tuple[str, _Entry]]:
    if term.match is MatchMode.EXACT:
        folded = norm.fold(term.term).text
        yield folded, _Entry(Projection.FOLDED, list_index, term_index, "exact", _edges(folded))
        return
    normalised = norm.normalise(term.term).text
    if not normalised:
        return
    if all(norm.is_word_char(ch) for ch in normalised):
        # a Latin term: whole words, as written (latin) or with anything put inside it (text, see _spaces_hold)
        words = "".join(ch if norm.is_word_char(ch) else " " for ch in norm.fold(term.term).text).split()
        yield f" {' '.join(words)} ", _Entry(Projection.LATIN, list_index, term_index, "normalised")
        spaces = frozenset(itertools.accumulate(len(word) for word in words[:-1]))
        glued = _Entry(Projection.TEXT, list_index, term_index, "normalised", (True, True), spaces_at=spaces)
        yield normalised, glued
        return
    for spelling in (normalised, *(norm.normalise(s).text for s in norm.split_spellings(term.term))):
        yield spelling, _Entry(Projection.TEXT, list_index, term_index, "normalised", _edges(spelling))
    for reading in term_readings(term.term):
        yield from _pinyin_keys(reading, list_index, term_index)
        if sum(1 for token in reading if token.isalpha()) >= 2:
            yield "|" + "|".join(reading) + "|", _Entry(Projection.SYLLABLE, list_index, term_index, "homophone")


def _pinyin_keys(reading: list[str], list_index: int, term_index: int) -> Iterator[tuple[str, _Entry]]:
    pinyin = _Entry(Projection.LATIN, list_index, term_index, "pinyin")
    yield f" {''.join(reading)} ", pinyin
    if len(reading) > MAX_SPACED_SYLLABLES:
        yield f" {' '.join(reading)} ", pinyin
    else:
        for gaps in itertools.product((False, True), repeat=len(reading) - 1):
            if any(gaps):
                form = reading[0] + "".join((" " if gap else "") + s for gap, s in zip(gaps, reading[1:], strict=True))
                yield f" {form} ", pinyin
    if len(reading) >= MIN_INITIALS_SYLLABLES and all(s.isalpha() for s in reading):
        initials = [s[0] for s in reading]
        entry = _Entry(Projection.LATIN, list_index, term_index, "initials")
        yield f" {''.join(initials)} ", entry
        yield f" {' '.join(initials)} ", entry


def _tokens(normalised: str) -> list[str]:
    """A normalised term as CJK characters and runs of Latin letters and digits."""
    tokens: list[str] = []
    for ch in normalised:
        if norm.is_word_char(ch) and tokens and norm.is_word_char(tokens[-1][-1]):
            tokens[-1] += ch
        else:
            tokens.append(ch)
    return tokens


def _edges(key: str) -> tuple[bool, bool]:
    return norm.is_word_char(key[0]), norm.is_word_char(key[-1])


def _word_edges_hold(text: str, start: int, end: int, edges: tuple[bool, bool]) -> bool:
    """A key that begins (ends) a Latin word hits only where nothing of the word stands before (after) it."""
    if edges[0] and start > 0 and _continues_word(text[start - 1]):
        return False
    return not (edges[1] and end < len(text) and _continues_word(text[end]))


def _spaces_hold(found: str, spaces_at: frozenset[int]) -> bool:
    """Each space inside a Latin term's match stands where the term has one, or borders a lone letter
    (``n i g g e r``, ``ge r``): never between two words (``hero in`` is not heroin)."""
    pieces = [sum(1 for ch in piece if _continues_word(ch)) for piece in found.split()]
    letters_before = 0
    for left, right in itertools.pairwise(pieces):
        letters_before += left
        if letters_before not in spaces_at and left != 1 and right != 1:
            return False
    return True


def _continues_word(ch: str) -> bool:
    return any(norm.is_word_char(piece) for piece in norm.fold(ch).text)


def _spaced_lone_letter(found: str) -> bool:
    """Pinyin written with spaces where one syllable is a lone letter reads as English (``a san``)."""
    pieces = found.split()
    return len(pieces) > 1 and any(sum(1 for ch in piece if ch.isalpha()) == 1 for piece in pieces)


def _title_case(word: str) -> bool:
    letters = [ch for ch in word if ch.isalpha()]
    return len(letters) >= 2 and letters[0].isupper() and all(ch.islower() for ch in letters[1:])
