"""Exact and near-duplicate removal of (question, response) pairs.

Exact duplicates are found on a normalised text key (case, whitespace and punctuation removed).
Near duplicates are found with MinHash over character 3-grams and locality-sensitive hashing
(bands of rows), then confirmed with the exact Jaccard similarity of the two shingle sets; the
first occurrence is kept. Hashes are CRC32-based, so the result does not depend on the process
(Python's ``hash`` of a string is salted per process).
"""

from __future__ import annotations

import unicodedata
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")

_PRIME = (1 << 61) - 1
_NUM_PERM = 16
_BANDS = 8


def normalise(text: str) -> str:
    """Lower case, NFKC, no whitespace or punctuation: the key of exact deduplication."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if not (ch.isspace() or unicodedata.category(ch).startswith("P")))


def shingles(text: str, size: int = 3) -> set[str]:
    return _grams(normalise(text), size)


def _grams(key: str, size: int = 3) -> set[str]:
    if len(key) <= size:
        return {key}
    return {key[i : i + size] for i in range(len(key) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def _similar(a: set[str], b: set[str], threshold: float) -> bool:
    """``jaccard(a, b) >= threshold``, without the intersection when the sizes alone rule it out
    (the Jaccard similarity of two sets is at most the smaller size over the larger)."""
    small, large = sorted((len(a), len(b)))
    if large and small / large < threshold:
        return False
    return jaccard(a, b) >= threshold


class _MinHasher:
    def __init__(self, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, _PRIME, size=_NUM_PERM, dtype=np.uint64)
        self._b = rng.integers(0, _PRIME, size=_NUM_PERM, dtype=np.uint64)

    def signature(self, grams: set[str]) -> tuple[int, ...]:
        hashes = np.fromiter((zlib.crc32(g.encode("utf-8")) for g in grams), dtype=np.uint64, count=len(grams))
        # (a*h + b) mod p with h < 2**32 and a, b < 2**61 could overflow 64 bits: reduce a first.
        a = self._a % np.uint64(1 << 31)
        values = (hashes[:, None] * a[None, :] + self._b[None, :]) % np.uint64(_PRIME)
        return tuple(int(v) for v in values.min(axis=0))


class Deduplicator:
    """Remembers what it has accepted; :meth:`accept` is False for exact or near duplicates."""

    def __init__(self, threshold: float = 0.9) -> None:
        self.threshold = threshold
        self._hasher = _MinHasher()
        self._rows = _NUM_PERM // _BANDS
        self._exact: set[str] = set()
        self._buckets: dict[tuple[int, tuple[int, ...]], list[int]] = {}
        self._shingles: list[set[str]] = []

    def accept(self, text: str) -> bool:
        key = normalise(text)
        if key in self._exact:
            return False
        grams = _grams(key)
        signature = self._hasher.signature(grams)
        rows = self._rows
        bands = [(band, signature[band * rows : (band + 1) * rows]) for band in range(_BANDS)]
        candidates = {index for band in bands for index in self._buckets.get(band, ())}
        if any(_similar(grams, self._shingles[index], self.threshold) for index in candidates):
            return False
        self._exact.add(key)
        for band in bands:
            self._buckets.setdefault(band, []).append(len(self._shingles))
        self._shingles.append(grams)
        return True


def deduplicate(items: Iterable[T], text_of: Callable[[T], str], *, threshold: float = 0.9) -> list[T]:
    """Items in order with exact and near duplicates (Jaccard >= ``threshold``) removed."""
    seen = Deduplicator(threshold)
    return [item for item in items if seen.accept(text_of(item))]


def near_duplicate_pairs(texts: Sequence[str], threshold: float = 0.9) -> int:
    """How many texts are exact or near duplicates of an earlier one (for checks and reports)."""
    return len(texts) - len(deduplicate(list(texts), lambda t: t, threshold=threshold))
