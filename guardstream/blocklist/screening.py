"""What a policy makes of the blocklist hits in a text, and of the model's score beside them.

Only the hits of lists the policy applies count. A hit of a ``decide`` list is the verdict (its
term's action is the label; unsafe outranks review) and the model need not be asked; hits of
``raise`` lists raise the model's p_unsafe to at least their ``raise_to``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from guardstream.blocklist.model import Hit, ListEffect, TermAction
from guardstream.guard.categories import HarmCategory
from guardstream.policy import Policy
from guardstream.records import BlocklistHit, Decider, VerdictLabel

BLOCKLIST_MODEL_NAME = "blocklist"
"""``model_name`` of a verdict a blocklist decided (its ``model_version`` is ``<list>@<version>``)."""
FALLBACK_MODEL_NAME = "fallback"
"""``model_name`` of a fallback verdict, made while the model was away."""


@dataclass(frozen=True, slots=True)
class Screening:
    """One policy's view of one text: the hits that count under it."""

    policy: Policy
    hits: tuple[Hit, ...] = ()

    @property
    def deciding(self) -> Hit | None:
        """The hit that decides the verdict (the first unsafe one, else the first review one), if any."""
        deciding = [hit for hit in self.hits if hit.effect is ListEffect.DECIDE]
        unsafe = [hit for hit in deciding if hit.term.action is TermAction.UNSAFE]
        first = unsafe or deciding
        return first[0] if first else None

    @property
    def floor(self) -> Hit | None:
        """The raising hit with the highest ``raise_to``, if any."""
        raising = [hit for hit in self.hits if hit.effect is ListEffect.RAISE]
        return max(raising, key=lambda hit: hit.raise_to, default=None)

    @property
    def needs_model(self) -> bool:
        return self.deciding is None


@dataclass(frozen=True, slots=True)
class Judgement:
    """A policy's decision on one event: the label, the score it read, and what decided."""

    label: VerdictLabel
    p_unsafe: float
    category: tuple[str, float] | None
    decided_by: Decider
    hits: tuple[BlocklistHit, ...]
    deciding: Hit | None


def screen(hits: Sequence[Hit], policy: Policy) -> Screening:
    return Screening(policy, tuple(hit for hit in hits if policy.applies(hit.list_name)))


def judge(screening: Screening, p_model: float | None, category: tuple[str, float] | None) -> Judgement:
    """The label under ``screening.policy``: from the deciding hit, else from the model's score
    (``p_model``, None only when a hit decides) raised by the raising hits."""
    policy, recorded = screening.policy, tuple(_recorded(hit) for hit in screening.hits)
    deciding = screening.deciding
    if deciding is not None:
        unsafe = deciding.term.action is TermAction.UNSAFE
        label = VerdictLabel.UNSAFE if unsafe else VerdictLabel.REVIEW
        p_unsafe = 1.0 if unsafe else policy.review_threshold
        return Judgement(label, p_unsafe, (deciding.term.category.value, 1.0), Decider.BLOCKLIST, recorded, deciding)
    if p_model is None:
        raise ValueError("no blocklist hit decides this text, so the model's score is needed")
    p_unsafe, floor = p_model, screening.floor
    if floor is not None and floor.raise_to > p_model:
        p_unsafe, category = floor.raise_to, (floor.term.category.value, floor.raise_to)
    label = policy.label(p_unsafe, HarmCategory(category[0]) if category else None)
    return Judgement(label, p_unsafe, category, Decider.MODEL, recorded, None)


def fall_back(screening: Screening) -> Judgement:
    """The verdict while the model is away past the policy's deadline: review (a person or the model's
    revision decides), at the policy's review threshold or a raising hit's floor, with the hits."""
    policy, floor = screening.policy, screening.floor
    p_unsafe = max(policy.review_threshold, floor.raise_to if floor is not None else 0.0)
    category = (floor.term.category.value, floor.raise_to) if floor is not None else None
    hits = tuple(_recorded(hit) for hit in screening.hits)
    return Judgement(VerdictLabel.REVIEW, p_unsafe, category, Decider.FALLBACK, hits, None)


def _recorded(hit: Hit) -> BlocklistHit:
    return BlocklistHit(
        list_name=hit.list_name,
        list_version=hit.list_version,
        term=hit.term.term,
        category=hit.term.category.value,
        variant=hit.variant,
    )
