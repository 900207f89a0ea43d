"""The quality gate: a candidate is published only if it beats the serving model on the gold set.

Both models are evaluated on the same gold set with Libra-Test's protocol; the decision compares
the unweighted average of the configured metric. A candidate that leaves too many answers
unparseable is rejected whatever its score. The reason is always written down.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from training.config import GateConfig


@dataclass(frozen=True)
class GateDecision:
    publish: bool
    reason: str
    metric: str
    candidate: float
    serving: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    config: GateConfig,
    candidate_metrics: dict[str, dict[str, float]],
    candidate_unparseable_fraction: float,
    serving_metrics: dict[str, dict[str, float]] | None,
    *,
    serving_version: str | None = None,
) -> GateDecision:
    metric = config.metric
    mine = candidate_metrics["average"][metric]
    if candidate_unparseable_fraction > config.max_unparseable_fraction:
        return GateDecision(
            False,
            f"rejected: {candidate_unparseable_fraction:.1%} of the candidate's answers are unparseable "
            f"(at most {config.max_unparseable_fraction:.1%} allowed)",
            metric,
            mine,
            None if serving_metrics is None else serving_metrics["average"][metric],
        )
    if serving_metrics is None:
        return GateDecision(
            True,
            f"published: no serving version to compare with (candidate average {metric} {mine:.4f})",
            metric,
            mine,
            None,
        )
    theirs = serving_metrics["average"][metric]
    label = f"serving version {serving_version}" if serving_version else "the serving version"
    if mine > theirs + config.min_improvement:
        return GateDecision(
            True,
            f"published: candidate average {metric} {mine:.4f} beats {label} ({theirs:.4f}) "
            f"by more than {config.min_improvement:.4f}",
            metric,
            mine,
            theirs,
        )
    return GateDecision(
        False,
        f"rejected: candidate average {metric} {mine:.4f} does not beat {label} ({theirs:.4f}) "
        f"by more than {config.min_improvement:.4f}",
        metric,
        mine,
        theirs,
    )
