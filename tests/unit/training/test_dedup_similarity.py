"""The size bound that spares the intersection never changes a near-duplicate decision."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from training.data.dedup import _similar, jaccard

grams = st.sets(st.text(alphabet="abc界字", min_size=3, max_size=3), max_size=40)


@given(grams, grams, st.sampled_from([0.5, 0.8, 0.9, 0.95, 1.0]))
def test_similar_is_jaccard_at_or_above_the_threshold(a: set[str], b: set[str], threshold: float) -> None:
    assert _similar(a, b, threshold) == (jaccard(a, b) >= threshold)


def test_a_subset_at_exactly_the_threshold_is_similar() -> None:
    large = {f"{i:03d}" for i in range(30)}
    small = set(sorted(large)[:27])
    assert jaccard(small, large) == 0.9 and _similar(small, large, 0.9)
