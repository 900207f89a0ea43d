"""Variants of listed terms, the way evaders write them, each in a carrier sentence: for the check.

Every kind is made from public knowledge of the script, not from the matcher: homophones invert
pypinyin's reading of the commonest characters (jieba's counts); traditional forms come from OpenCC
``s2t``; full-width from Unicode's full-width block. Look-alikes and split characters necessarily
come from the tables the normaliser undoes (:mod:`guardstream.blocklist.charmaps`): what counts as a
look-alike is what those tables say, so those two kinds measure the plumbing, not the tables' reach.

Kinds that do not apply to a term (no splittable character, one syllable) are skipped for it, and a
variant equal to the term itself is never counted. Initials are made for terms of three syllables or
more: two letters (``db`` for 赌博) are not a recognisable spelling of a term; such slang (``sb``) is
listed as a term of its own. Everything is drawn from ``random.Random(seed)``.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from guardstream.blocklist import normalise as norm
from guardstream.blocklist.charmaps import COMPOSITIONS, LOOKALIKES, RADICAL_SPELLINGS
from guardstream.blocklist.frames import HELD_OUT_FRAMES, TUNING_FRAMES
from guardstream.blocklist.lexicon import char_counts
from guardstream.blocklist.matcher import term_readings
from guardstream.blocklist.model import Blocklist, MatchMode

HOMOPHONE_CHOICES = 8
"""A homophone is drawn from the most common characters of the syllable, this many of them."""
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")
SEPARATORS = (" ", "  ", ".", "。", "、", "*", "-", "_", "~", "|", "/", "★", "♥", "😂", "🔥", "👍", "💩", "，", "…")


class VariantKind(StrEnum):
    HOMOPHONE = "homophone"
    PINYIN = "pinyin"
    INITIALS = "initials"
    TRADITIONAL = "traditional"
    FULL_WIDTH = "full_width"
    LOOKALIKE = "lookalike"
    SPLIT = "split"
    ZERO_WIDTH = "zero_width"
    SEPARATORS = "separators"
    COMBINED = "combined"


@dataclass(frozen=True, slots=True)
class VariantItem:
    kind: VariantKind
    list_name: str
    term: str
    variant: str
    text: str
    start: int
    """Where the variant stands in :attr:`text`: [start, start + len(variant))."""


def frames_for(which: str) -> tuple[str, ...]:
    if which == "held_out":
        return HELD_OUT_FRAMES
    if which == "tuning":
        return TUNING_FRAMES
    raise ValueError(f"frames must be held_out or tuning, not {which!r}")


def generate_variants(
    lists: Sequence[Blocklist], *, per_kind: int = 3, seed: int = 0, frames: str = "held_out"
) -> list[VariantItem]:
    """Up to ``per_kind`` distinct variants of each kind for every ``variant`` term of the lists."""
    rng = random.Random(seed)
    carriers = frames_for(frames)
    items = []
    for blocklist in lists:
        for term in blocklist.terms:
            if term.match is not MatchMode.VARIANT:
                continue
            for kind in VariantKind:
                for variant in _distinct(rng, KINDS[kind], term.term, per_kind):
                    frame = rng.choice(carriers)
                    start = frame.index("{}")
                    items.append(VariantItem(kind, blocklist.name, term.term, variant, frame.format(variant), start))
    return items


def _distinct(rng: random.Random, make: Callable[[random.Random, str], str | None], term: str, count: int) -> list[str]:
    found: list[str] = []
    for _ in range(count * 6):
        if len(found) == count:
            break
        variant = make(rng, term)
        if variant is not None and variant != term and variant not in found:
            found.append(variant)
    return found


def is_han(term: str) -> bool:
    return any(norm.char_syllable(ch) for ch in norm.normalise(term).text)


def homophone(rng: random.Random, term: str) -> str | None:
    chars = list(norm.normalise(term).text)
    readings = term_readings(term)
    if not readings or len(readings[0]) != len(chars) or sum(1 for ch in chars if norm.char_syllable(ch)) < 2:
        return None
    positions = [k for k, ch in enumerate(chars) if norm.char_syllable(ch) and _homophones(readings[0][k], ch)]
    if not positions:
        return None
    for k in rng.sample(positions, rng.randint(1, len(positions))):
        chars[k] = rng.choice(_homophones(readings[0][k], chars[k]))
    return "".join(chars)


def pinyin(rng: random.Random, term: str) -> str | None:
    reading = _reading(term)
    if reading is None:
        return None
    style = rng.randrange(5)
    if style == 0:
        return "".join(reading)
    if style == 1:
        return " ".join(reading)
    if style == 2:
        return "".join(s.capitalize() for s in reading)
    if style == 3:
        return " ".join(reading).upper()
    return "-".join(reading)


def initials(rng: random.Random, term: str) -> str | None:
    reading = _reading(term)
    if reading is None or len(reading) < 3:
        return None
    letters = [s[0] for s in reading]
    joiner = rng.choice(("", "", " ", "."))
    text = joiner.join(letters)
    return text.upper() if rng.random() < 0.4 else text


def traditional(rng: random.Random, term: str) -> str | None:
    return norm.to_traditional(term)


def full_width(rng: random.Random, term: str) -> str | None:
    source = term if not is_han(term) else pinyin(rng, term)
    if source is None:
        return None
    if rng.random() < 0.5:
        source = source.upper()
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else "\u3000" if ch == " " else ch for ch in source)


def lookalike(rng: random.Random, term: str) -> str | None:
    chars = list(term)
    positions = [k for k, ch in enumerate(chars) if _lookalikes().get(ch.lower())]
    if not positions and is_han(term):
        spelled = pinyin(rng, term)
        if spelled is None:
            return None
        chars = list(spelled.lower())
        positions = [k for k, ch in enumerate(chars) if _lookalikes().get(ch)]
    if not positions:
        return None
    for k in rng.sample(positions, rng.randint(1, len(positions))):
        chars[k] = rng.choice(_lookalikes()[chars[k].lower()])
    return "".join(chars)


def split(rng: random.Random, term: str) -> str | None:
    positions = [k for k, ch in enumerate(term) if ch in COMPOSITIONS]
    if not positions:
        return None
    chars = list(term)
    for k in rng.sample(positions, rng.randint(1, len(positions))):
        left, right = COMPOSITIONS[chars[k]]
        left = rng.choice((left, *RADICAL_SPELLINGS.get(left, ())))
        right = rng.choice((right, *RADICAL_SPELLINGS.get(right, ())))
        chars[k] = left + right
    return "".join(chars)


def zero_width(rng: random.Random, term: str) -> str | None:
    return _insert(rng, term, ZERO_WIDTH)


def separators(rng: random.Random, term: str) -> str | None:
    return _insert(rng, term, SEPARATORS)


def combined(rng: random.Random, term: str) -> str | None:
    """Two disguises at once: a spelling (homophone, traditional, split, pinyin for some characters), then inserts."""
    spellings: list[Callable[[random.Random, str], str | None]] = [homophone, traditional, split, mixed_pinyin]
    rng.shuffle(spellings)
    for spell in spellings:
        spelled = spell(rng, term)
        if spelled is not None and spelled != term:
            return _insert(rng, spelled, ZERO_WIDTH + SEPARATORS)
    return None


def mixed_pinyin(rng: random.Random, term: str) -> str | None:
    """Some characters written in pinyin, the rest as they are (傻bi)."""
    chars = list(norm.normalise(term).text)
    reading = _reading(term)
    if reading is None or len(reading) != len(chars) or len(chars) < 2:
        return None
    for k in rng.sample(range(len(chars)), rng.randint(1, len(chars) - 1)):
        chars[k] = reading[k]
    return "".join(chars)


KINDS: dict[VariantKind, Callable[[random.Random, str], str | None]] = {
    VariantKind.HOMOPHONE: homophone,
    VariantKind.PINYIN: pinyin,
    VariantKind.INITIALS: initials,
    VariantKind.TRADITIONAL: traditional,
    VariantKind.FULL_WIDTH: full_width,
    VariantKind.LOOKALIKE: lookalike,
    VariantKind.SPLIT: split,
    VariantKind.ZERO_WIDTH: zero_width,
    VariantKind.SEPARATORS: separators,
    VariantKind.COMBINED: combined,
}


def _insert(rng: random.Random, term: str, pool: Sequence[str]) -> str | None:
    if len(term) < 2:
        return None
    gaps = rng.sample(range(1, len(term)), rng.randint(1, len(term) - 1))
    out = []
    for k, ch in enumerate(term):
        if k in gaps:
            out.append(rng.choice(pool))
        out.append(ch)
    return "".join(out)


def _reading(term: str) -> list[str] | None:
    if not is_han(term):
        return None
    readings = term_readings(term)
    return readings[0] if readings else None


@functools.cache
def _homophone_table() -> dict[str, tuple[str, ...]]:
    """Syllable → the common characters whose first reading it is, the commonest first."""
    by_syllable: dict[str, list[tuple[int, str]]] = {}
    for ch, count in char_counts().items():
        syllable = norm.char_syllable(ch)
        if syllable and norm.normalise(ch).text == ch:
            by_syllable.setdefault(syllable, []).append((count, ch))
    return {s: tuple(ch for _, ch in sorted(found, reverse=True)) for s, found in by_syllable.items()}


def _homophones(syllable: str, ch: str) -> list[str]:
    return [other for other in _homophone_table().get(syllable, ())[: HOMOPHONE_CHOICES + 1] if other != ch][
        :HOMOPHONE_CHOICES
    ]


@functools.cache
def _lookalikes() -> dict[str, tuple[str, ...]]:
    inverted: dict[str, list[str]] = {}
    for odd, plain in LOOKALIKES.items():
        inverted.setdefault(plain, []).append(odd)
    return {plain: tuple(odds) for plain, odds in inverted.items()}
