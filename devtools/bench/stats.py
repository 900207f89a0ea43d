"""Figures from samples: nearest-rank percentiles, steady-state rates, medians of batches."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0–100) of ``values``; NaN when there are none."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within [0, 100], got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[rank - 1])


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max of latencies, plus how many samples they come from."""
    return {
        "n": float(len(values)),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": float(max(values)) if values else math.nan,
    }


def steady_rate(times_ms: Iterable[float], trim: float = 0.05) -> float:
    """Items per second between the ``trim`` and ``1 - trim`` quantiles of completion times.

    Trimming both ends leaves out the start-up (group join, first batch) and the tail (the last
    partial batch), so a backlog drained by the pipeline gives its steady throughput. NaN when the
    kept items all completed at one instant (one batch, or batches released together): no rate
    can be read from them, and 0 would claim the pipeline stood still.
    """
    if not 0.0 <= trim < 0.5:
        raise ValueError("trim must be within [0, 0.5)")
    ordered = sorted(times_ms)
    if len(ordered) < 2:
        return math.nan
    low = int(len(ordered) * trim)
    high = len(ordered) - 1 - low
    span_s = (ordered[high] - ordered[low]) / 1000.0
    if span_s <= 0:
        return math.nan
    return (high - low) / span_s


def median_batch_ms(batches: Iterable[tuple[Hashable, float]]) -> float:
    """Median inference time over distinct batches, given (batch key, inference_ms) per item.

    Every verdict of a batch carries the batch's inference time; counting each batch once keeps
    big batches from weighing more than small ones.
    """
    per_batch = {key: value for key, value in batches}
    return percentile(list(per_batch.values()), 50)


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else math.nan
