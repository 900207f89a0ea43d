"""What a blocklist is: named, versioned lists of terms, and the hits a matcher reports.

A list's :attr:`Blocklist.effect` says what a hit does to a verdict: ``decide`` (the hit is the
verdict: label from the term's action, ``decided_by=blocklist``) or ``raise`` (the model still
judges; its p_unsafe is raised to at least :attr:`Blocklist.raise_to`). Each term names its harm
category, the label it stands for, and whether it matches only as written (``exact``, after
Unicode normalisation) or in its variants too (``variant``: homophones, pinyin and initials,
traditional forms, full-width and look-alike characters, split characters, inserted separators).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from guardstream.guard.categories import HarmCategory


class MatchMode(StrEnum):
    EXACT = "exact"
    VARIANT = "variant"


class TermAction(StrEnum):
    """The verdict label a term stands for."""

    UNSAFE = "unsafe"
    REVIEW = "review"


class ListEffect(StrEnum):
    DECIDE = "decide"
    RAISE = "raise"


@dataclass(frozen=True, slots=True)
class BlocklistTerm:
    term: str
    category: HarmCategory
    action: TermAction = TermAction.UNSAFE
    match: MatchMode = MatchMode.VARIANT


@dataclass(frozen=True, slots=True)
class Blocklist:
    name: str
    version: int
    effect: ListEffect = ListEffect.DECIDE
    raise_to: float = 0.5
    """With ``effect=raise``: a hit raises the model's p_unsafe to at least this."""
    description: str = ""
    terms: tuple[BlocklistTerm, ...] = ()


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence of a listed term (or a variant of it) in a text."""

    list_name: str
    list_version: int
    effect: ListEffect
    raise_to: float
    term: BlocklistTerm
    start: int
    """Offsets into the original text, [start, end): where the matched variant stands."""
    end: int
    variant: str
    """How it matched: ``exact``, ``normalised``, ``pinyin``, ``initials`` or ``homophone``."""
