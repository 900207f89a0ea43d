import json
import math
from pathlib import Path

from devtools.bench.direct import SweepPoint
from devtools.bench.report import plot_latency, without_nan, write_json
from devtools.bench.runner import BenchResults, figures


def results() -> BenchResults:
    best = SweepPoint(32, 2, 1000.0, 50, 60.0)
    outcome = BenchResults(machine={"cores": 2}, config={}, sweep=[best], best=best)
    outcome.naive_eps = 50.0
    outcome.explain_eps = math.nan
    outcome.pipeline = {"eps": 950.0}
    outcome.overhead = {"eps": 16000.0}
    outcome.latency = [
        {
            "share_of_peak": s,
            "offered_rate": 950 * s,
            "verdicts": 100,
            "p50_ms": 30.0 * s,
            "p95_ms": 50.0,
            "p99_ms": 60.0 * s,
            "max_ms": 70.0,
            "median_batch_inference_ms": 20.0,
        }
        for s in (0.25, 0.5, 0.7, 0.9)
    ]
    outcome.figures = figures(outcome, batch_max_wait_ms=20.0)
    return outcome


def test_figures_use_the_level_at_seventy_percent_and_its_bound() -> None:
    named = {f.name: f for f in results().figures}
    assert named["efficiency"].value == 0.95 and named["efficiency"].passed is True
    assert named["vs_naive"].value == 19.0
    assert named["p99_bound_ms"].value == 20.0 + 3 * 20.0
    assert named["p99_ms"].value == 60.0 * 0.7 and named["p99_ms"].target == 80.0
    assert named["modes_ratio"].passed is False  # explain not measured: NaN fails


def test_results_json_is_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "out" / "results.json"
    write_json(results(), path)
    document = json.loads(path.read_text())
    assert document["explain_eps"] is None
    assert {f["name"] for f in document["figures"]} >= {
        "efficiency",
        "vs_naive",
        "overhead_eps",
        "modes_ratio",
        "p99_ms",
        "p99_bound_ms",
    }


def test_without_nan_cleans_nested_values() -> None:
    assert without_nan({"a": [1.0, math.nan, {"b": math.inf}]}) == {"a": [1.0, None, {"b": None}]}


def test_latency_plot_is_a_png(tmp_path: Path) -> None:
    path = tmp_path / "latency.png"
    assert plot_latency(results(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_modes_figures_are_medians_of_interleaved_rounds() -> None:
    outcome = results()
    outcome.modes_rounds = [(100.0, 10.0), (50.0, 10.0), (300.0, 20.0)]
    named = {f.name: f for f in figures(outcome, batch_max_wait_ms=20.0)}
    assert named["score_eps"].value == 100.0
    assert named["modes_ratio"].value == 10.0 and named["modes_ratio"].passed is True
