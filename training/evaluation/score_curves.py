"""Per-source views of p_unsafe: the reliability table and the threshold curve.

The threshold curve answers "where should the policy put its unsafe threshold for this kind of
data": for each threshold t on a grid, the item counts as unsafe when p_unsafe >= t, and the
Libra-Test figures (accuracy, F1-safe, F1-unsafe) are computed as for answers. Only items with a
score take part; a source without scores has no curves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from training.evaluation.metrics import (
    Confusion,
    Prediction,
    calibration_bins,
    expected_calibration_error,
    source_metrics,
)

GRID = tuple(round(step / 100, 2) for step in range(101))


@dataclass(frozen=True)
class SourceCurves:
    source: str
    items: int
    calibration: list[dict[str, float]]
    expected_calibration_error: float | None
    thresholds: list[dict[str, float]]
    """Per grid threshold: threshold, accuracy, f1_safe, f1_unsafe."""

    def best(self, metric: str = "accuracy") -> dict[str, float]:
        """The grid point with the highest ``metric`` (the lowest threshold among ties)."""
        return max(self.thresholds, key=lambda row: (row[metric], -row["threshold"]))

    def at(self, threshold: float) -> dict[str, float]:
        return min(self.thresholds, key=lambda row: abs(row["threshold"] - threshold))


def threshold_curve(predictions: Sequence[Prediction], grid: Sequence[float] = GRID) -> list[dict[str, float]]:
    scored = [(float(p.p_unsafe), p.record.unsafe) for p in predictions if p.p_unsafe is not None]
    rows = []
    for threshold in grid:
        tp = sum(gold and score >= threshold for score, gold in scored)
        fn = sum(gold and score < threshold for score, gold in scored)
        fp = sum(not gold and score >= threshold for score, gold in scored)
        tn = len(scored) - tp - fn - fp
        rows.append({"threshold": threshold, **source_metrics(Confusion(tp=tp, fn=fn, fp=fp, tn=tn))})
    return rows


def curves_by_source(predictions: Sequence[Prediction]) -> list[SourceCurves]:
    """One :class:`SourceCurves` per source that has scored items, sources in name order."""
    grouped: dict[str, list[Prediction]] = defaultdict(list)
    for p in predictions:
        if p.p_unsafe is not None:
            grouped[p.record.source].append(p)
    result = []
    for source, items in sorted(grouped.items()):
        table = calibration_bins(items)
        result.append(
            SourceCurves(source, len(items), table, expected_calibration_error(table), threshold_curve(items))
        )
    return result
