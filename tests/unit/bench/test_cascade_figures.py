"""The cascade phase's band, escalated share and figures, from scores and verdicts made here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from devtools.bench.cascade import CascadeResults, band_for_share, escalated_fraction
from devtools.bench.direct import SweepPoint
from devtools.bench.figures import parse_line
from devtools.bench.kafka_io import VerdictSample
from devtools.bench.load import LoadReport
from devtools.bench.pipeline import BacklogTrials, PipelineConfig, PipelineRun
from devtools.bench.report import write_json
from devtools.bench.runner import BenchResults, cascade_figures
from guardstream.records import GuardStage


def test_the_band_holds_the_share_nearest_the_threshold() -> None:
    scores = [0.0, 0.125, 0.375, 0.4375, 0.5, 0.5625, 0.75, 1.0]
    low, high = band_for_share(scores, 0.5, 0.5)  # four of eight: 0.375 .. 0.5625
    assert (low, high) == (0.375, math.nextafter(0.625, math.inf))
    assert sum(low <= s < high for s in scores) == 4


def test_the_band_includes_a_score_on_its_upper_edge() -> None:
    low, high = band_for_share([0.25, 0.75], 0.5, 1.0)
    assert low <= 0.25 < high and low <= 0.75 < high


def test_the_band_stays_within_zero_and_one() -> None:
    assert band_for_share([0.0, 0.01, 0.02, 0.99], 0.9, 1.0) == (0.0, 1.0)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError):
        band_for_share([0.5], 0.5, share)


def test_escalated_fraction_counts_generative_stages() -> None:
    stages = [GuardStage.FAST] * 7 + [GuardStage.GENERATIVE] * 3
    assert escalated_fraction(stages) == 0.3
    assert math.isnan(escalated_fraction([]))


def drained(stages: list[GuardStage], per_second: int, band: tuple[float, float] | None = None) -> BacklogTrials:
    samples = [VerdictSample(f"e{i}", 1000 * i // per_second, 5.0, 2.0, stage) for i, stage in enumerate(stages)]
    config = PipelineConfig(fast_model_name="guard_fast", escalate_band=band)
    return BacklogTrials(len(samples), [(config, PipelineRun(len(samples), LoadReport(len(samples), 1.0, 0), samples))])


def cascade_results() -> CascadeResults:
    band = (0.25, 0.75)
    return CascadeResults(
        direct=[SweepPoint(32, 2, 400.0, 20, 80.0), SweepPoint(64, 2, 500.0, 20, 120.0)],
        band=band,
        band_source="given",
        fast=drained([GuardStage.FAST] * 400, per_second=200),
        cascade=drained([GuardStage.FAST] * 340 + [GuardStage.GENERATIVE] * 60, per_second=100, band=band),
    )


def test_cascade_figures_are_bench_lines() -> None:
    named = {f.name: f for f in cascade_figures(cascade_results())}
    assert named["fast_direct_eps"].value == 500.0
    assert named["fast_eps"].value == pytest.approx(200.0)
    assert named["cascade_eps"].value == pytest.approx(100.0)
    assert named["escalated_fraction"].value == 0.15
    for figure in named.values():
        fields = parse_line(figure.line())
        assert fields["target"] == "na" and fields["passed"] == "na"
    assert parse_line(named["escalated_fraction"].line())["value"] == "0.150"


def test_without_a_fast_guard_the_cascade_figures_are_nan_but_present() -> None:
    figures = cascade_figures(None)
    assert [f.name for f in figures] == ["fast_direct_eps", "fast_eps", "cascade_eps", "escalated_fraction"]
    assert all(math.isnan(f.value) for f in figures)


def test_results_json_records_the_cascade(tmp_path: Path) -> None:
    results = BenchResults(machine={}, config={}, cascade=cascade_results())
    path = tmp_path / "results.json"
    write_json(results, path)
    cascade = json.loads(path.read_text())["cascade"]
    assert cascade["escalate_band"] == [0.25, 0.75] and cascade["escalated_fraction"] == 0.15
    assert cascade["fast_direct"]["best"]["batch"] == 64
    assert cascade["cascade_pipeline"]["config"]["escalate_band"] == [0.25, 0.75]
    assert cascade["fast_pipeline"]["verdicts"] == 400
    assert cascade["fast_pipeline"]["stages"] == {"none": 0, "fast": 400, "generative": 0}
    assert cascade["cascade_pipeline"]["stages"] == {"none": 0, "fast": 340, "generative": 60}
