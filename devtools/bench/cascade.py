"""The guard cascade in the pipeline: the fast guard alone, then with an uncertain band escalated.

After the ``pipeline`` phase (the generative guard alone), on the same stack and audit store:

1. ``fast_direct`` — the fast guard through Triton alone over the sweep's batch sizes, two requests
   in flight (its one instance busy, no more: on CPU one request of a BERT-sized encoder takes
   seconds, and a batch is padded to its longest item, so its best batch is often small);
2. the band — the one given, or the narrowest band around the policy's unsafe threshold that holds
   ``escalate_share`` of the fast guard's scores on the load's own items (the shipped policy has no
   band, which would make the cascade the fast guard alone again);
3. ``fast`` — workers run the cascade under the configured policy stripped of every band (global
   and per category), so nothing is escalated: the fast guard alone, batched at its best point (in
   a cascade the fast guard scores every event, so it sets the batch);
4. ``cascade`` — the same policy with the band as its global one; the share of the verdicts whose
   ``stage`` is generative is the escalated fraction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from devtools.bench.config import BenchConfig
from devtools.bench.direct import SweepPoint, best_point, sweep, sweep_grid
from devtools.bench.pipeline import BacklogTrials, PipelineConfig, drain_at_shapes
from guardstream.guard.backend_settings import OUTPUT_P_UNSAFE
from guardstream.policy import Policy, write_policy_file
from guardstream.records import ChatEvent, GuardStage
from guardstream.settings import Settings, TritonSettings
from workers.triton_client import CascadeClient

Band = tuple[float, float]
FAST_IN_FLIGHT = 2
BACKLOG_WINDOWS = 3
"""The fast and cascade backlogs hold at least this many windows of ``FAST_IN_FLIGHT`` batches."""


def band_for_share(scores: Sequence[float], centre: float, share: float) -> Band:
    """The narrowest ``[centre - w, centre + w)`` (within [0, 1]) that holds ``share`` of ``scores``.

    The items the fast guard is least sure of are those nearest its decision threshold; the band
    is closed at both ends on the scores themselves (the upper bound is the next float up).
    """
    if not scores:
        raise ValueError("no scores to place the band on")
    if not 0.0 < share <= 1.0:
        raise ValueError(f"the escalated share must be within (0, 1], got {share}")
    distances = sorted(abs(score - centre) for score in scores)
    width = distances[max(1, math.ceil(share * len(distances))) - 1]
    return max(0.0, centre - width), min(1.0, math.nextafter(centre + width, math.inf))


def escalated_fraction(stages: Iterable[GuardStage | None]) -> float:
    """The share of verdicts the generative guard decided; NaN without verdicts."""
    counted = list(stages)
    if not counted:
        return math.nan
    return sum(stage is GuardStage.GENERATIVE for stage in counted) / len(counted)


def fast_scores(triton: TritonSettings, pairs: Sequence[tuple[str, str]], batch: int) -> list[float]:
    """The fast guard's p_unsafe per pair: the cascade with nothing escalated, ``batch`` pairs a request."""
    client = CascadeClient(triton, lambda _score, _category: False)
    try:
        return [float(p) for start in range(0, len(pairs), batch) for p in client.score(pairs[start : start + batch])]
    finally:
        client.close()


@dataclass(slots=True)
class CascadeResults:
    direct: list[SweepPoint]
    """The fast guard through Triton alone, one point per batch size."""
    band: Band
    band_source: str
    """``given``, or the share of the fast guard's scores it was placed to hold."""
    fast: BacklogTrials
    cascade: BacklogTrials

    @property
    def direct_eps(self) -> float:
        return best_point(self.direct).items_per_s

    @property
    def escalated_fraction(self) -> float:
        _config, run = self.cascade.best
        return escalated_fraction(sample.stage for sample in run.samples)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fast_direct": {
                "points": [asdict(p) for p in self.direct],
                "best": asdict(best_point(self.direct)),
                "eps": self.direct_eps,
            },
            "escalate_band": list(self.band),
            "band_source": self.band_source,
            "fast_pipeline": self.fast.as_dict(),
            "cascade_pipeline": self.cascade.as_dict(),
            "escalated_fraction": self.escalated_fraction,
        }


def run_cascade(
    settings: Settings,
    config: BenchConfig,
    pool: list[ChatEvent],
    max_batch_size: int,
    audit_url: str,
    work_dir: Path,
    log_dir: Path,
    say: Callable[[str], None],
) -> CascadeResults:
    """The fast guard alone and the cascade, each in the pipeline; ``max_batch_size`` fits both models."""
    triton = settings.triton
    policy = Policy.from_settings(settings.policy)
    without_bands = write_policy_file(policy.without_escalation(), work_dir / "policy-without-escalation.yaml")
    pairs = [event.guard_pair() for event in pool]
    say(f"fast_direct: the fast guard ({triton.fast_model_name}) through Triton alone, {FAST_IN_FLIGHT} in flight")
    grid = sweep_grid(config.sweep_batches, (FAST_IN_FLIGHT,), max_batch_size)
    points = sweep(triton, triton.fast_model_name, OUTPUT_P_UNSAFE, pairs, grid, config.fast_seconds)
    best = best_point(points)
    say(f"  {', '.join(f'batch {p.batch}: {p.items_per_s:,.1f}' for p in points)} items/s")

    if config.escalate_band is not None:
        band, source = config.escalate_band, "given"
    else:
        scores = fast_scores(triton, pairs[: config.calibration_items], best.batch)
        band = band_for_share(scores, policy.unsafe_threshold, config.escalate_share)
        source = f"holds {config.escalate_share:.0%} of the fast guard's scores on {len(scores)} load items"
    say(f"escalate band [{band[0]:.4f}, {band[1]:.4f}) ({source})")

    # a backlog of a few windows of batches at least: the worker releases batches in order, so when
    # the escalated first batch finishes last, the whole window completes at one instant
    events = max(
        config.fast_min_events,
        BACKLOG_WINDOWS * best.batch * FAST_IN_FLIGHT,
        int(best.items_per_s * config.pipeline_seconds),
    )
    shape = [(best.batch, FAST_IN_FLIGHT)]
    base = PipelineConfig(
        model_name=triton.model_name,
        fast_model_name=triton.fast_model_name,
        policy_file=str(without_bands),
        batch_max_wait_ms=config.batch_max_wait_ms,
    )
    say("fast: workers drain a backlog with the fast guard alone (the cascade escalating nothing)")
    fast = drain_at_shapes(settings, base, shape, pool, events, audit_url, log_dir, "fast", config.phase_timeout_s, say)
    say("cascade: the same backlog, the band escalated to the generative guard")
    cascade = drain_at_shapes(
        settings,
        replace(base, escalate_band=band),
        shape,
        pool,
        events,
        audit_url,
        log_dir,
        "cascade",
        config.phase_timeout_s,
        say,
    )
    results = CascadeResults(points, band, source, fast, cascade)
    say(f"  escalated: {results.escalated_fraction:.1%} of the cascade's verdicts")
    return results
