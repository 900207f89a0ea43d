"""The measured check of a matcher: recall on generated variants, false hits on benign look-alikes, cost.

A variant item counts as found when the matcher reports a hit of its own term (any list that holds
it) overlapping the variant's place in the carrier sentence; a benign item is a false hit when the
matcher reports anything at all in it. The cost is the mean wall time of :meth:`find` per line over
every line of both sets, after a warm-up pass: processor time (``time.process_time``), so that other work on
a shared machine does not inflate it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from guardstream.blocklist.benign import BenignItem, benign_corpus
from guardstream.blocklist.matcher import BlocklistMatcher
from guardstream.blocklist.model import Blocklist
from guardstream.blocklist.variants import VariantItem, VariantKind, generate_variants

EXAMPLES_PER_KIND = 3


@dataclass(frozen=True, slots=True)
class KindResult:
    kind: str
    total: int
    found: int
    examples: tuple[str, ...] = ()
    """Missed variants (for variant kinds) or falsely hit lines (for benign kinds), a few of them."""

    @property
    def rate(self) -> float:
        return self.found / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class CheckReport:
    variant_kinds: tuple[KindResult, ...]
    benign_kinds: tuple[KindResult, ...]
    us_per_event: float
    key_count: int
    frames: str
    seed: int
    lists: tuple[str, ...] = field(default=())

    @property
    def n(self) -> int:
        return sum(kind.total for kind in self.variant_kinds)

    @property
    def variant_recall(self) -> float:
        return sum(kind.found for kind in self.variant_kinds) / self.n if self.n else 0.0

    @property
    def benign_n(self) -> int:
        return sum(kind.total for kind in self.benign_kinds)

    @property
    def false_hit_rate(self) -> float:
        return sum(kind.found for kind in self.benign_kinds) / self.benign_n if self.benign_n else 0.0

    def policy_line(self) -> str:
        return (
            f"POLICY n={self.n} variant_recall={self.variant_recall:.4f} "
            f"false_hit_rate={self.false_hit_rate:.4f} us_per_event={self.us_per_event:.4f}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "variant_recall": self.variant_recall,
            "benign_n": self.benign_n,
            "false_hit_rate": self.false_hit_rate,
            "us_per_event": self.us_per_event,
            "key_count": self.key_count,
            "frames": self.frames,
            "seed": self.seed,
            "lists": list(self.lists),
            "variant_kinds": [_kind_dict(kind) for kind in self.variant_kinds],
            "benign_kinds": [_kind_dict(kind) for kind in self.benign_kinds],
        }


def check_variants(
    lists: Sequence[Blocklist], *, per_kind: int = 3, seed: int = 0, frames: str = "held_out"
) -> CheckReport:
    matcher = BlocklistMatcher.build(lists)
    variants = generate_variants(lists, per_kind=per_kind, seed=seed, frames=frames)
    benign = benign_corpus(lists, seed=seed, frames=frames)
    texts = [item.text for item in variants] + [item.text for item in benign]
    for text in texts:
        matcher.find(text)
    started = time.process_time()
    for text in texts:
        matcher.find(text)
    elapsed = time.process_time() - started
    return CheckReport(
        variant_kinds=_variant_results(matcher, variants),
        benign_kinds=_benign_results(matcher, benign),
        us_per_event=elapsed / len(texts) * 1e6 if texts else 0.0,
        key_count=matcher.key_count,
        frames=frames,
        seed=seed,
        lists=tuple(blocklist.name for blocklist in lists),
    )


def variant_found(matcher: BlocklistMatcher, item: VariantItem) -> bool:
    end = item.start + len(item.variant)
    return any(
        hit.term.term == item.term and hit.start < end and item.start < hit.end for hit in matcher.find(item.text)
    )


def _variant_results(matcher: BlocklistMatcher, items: Sequence[VariantItem]) -> tuple[KindResult, ...]:
    results = []
    for kind in VariantKind:
        of_kind = [item for item in items if item.kind is kind]
        missed = [item for item in of_kind if not variant_found(matcher, item)]
        examples = tuple(f"{item.variant!r} ({item.term}) in {item.text!r}" for item in missed[:EXAMPLES_PER_KIND])
        results.append(KindResult(kind.value, len(of_kind), len(of_kind) - len(missed), examples))
    return tuple(results)


def _benign_results(matcher: BlocklistMatcher, items: Sequence[BenignItem]) -> tuple[KindResult, ...]:
    results = []
    for kind in dict.fromkeys(item.kind for item in items):
        of_kind = [item for item in items if item.kind == kind]
        hit = [(item, matcher.find(item.text)) for item in of_kind]
        false = [(item, hits) for item, hits in hit if hits]
        examples = tuple(
            f"{item.text!r}: {hits[0].term.term} as {hits[0].variant} at {item.text[hits[0].start : hits[0].end]!r}"
            for item, hits in false[:EXAMPLES_PER_KIND]
        )
        results.append(KindResult(kind, len(of_kind), len(false), examples))
    return tuple(results)


def _kind_dict(kind: KindResult) -> dict[str, object]:
    return {
        "kind": kind.kind,
        "total": kind.total,
        "found": kind.found,
        "rate": kind.rate,
        "examples": list(kind.examples),
    }
