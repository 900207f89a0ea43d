"""Per-source calibration and threshold curves: numbers against a hand-computed example, and the
report's figures for score-based and explain-based evaluations."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.data.records import GuardRecord
from training.evaluation.metrics import Prediction
from training.evaluation.runner import write_outputs
from training.evaluation.score_curves import curves_by_source, threshold_curve

UNSAFE_OUT = '{"答案": "不安全", "分析": "有害。"}'


def scored(index: int, source: str, unsafe: bool, p_unsafe: float | None, critic: str = "") -> Prediction:
    record = GuardRecord(f"id-{index}", source, "违法犯罪", "", f"问题{index}", "", "不安全" if unsafe else "安全", "")
    said = None if critic and p_unsafe is None else (p_unsafe is not None and p_unsafe >= 0.5)
    return Prediction(record, critic, said, p_unsafe)


def four() -> list[Prediction]:
    # safe 0.1, unsafe 0.4, safe 0.6, unsafe 0.9
    return [
        scored(1, "A", False, 0.1),
        scored(2, "A", True, 0.4),
        scored(3, "A", False, 0.6),
        scored(4, "A", True, 0.9),
    ]


def test_threshold_curve_matches_a_hand_computed_example() -> None:
    curve = {row["threshold"]: row for row in threshold_curve(four())}
    assert curve[0.5]["accuracy"] == 0.5  # TP 0.9, FN 0.4, FP 0.6, TN 0.1
    assert curve[0.4]["accuracy"] == 0.75 and curve[0.4]["f1_unsafe"] == pytest.approx(0.8)  # TP 2, FP 1, TN 1
    assert curve[0.0]["accuracy"] == 0.5 and curve[0.0]["f1_safe"] == 0.0  # everything unsafe
    assert curve[1.0]["accuracy"] == 0.5 and curve[1.0]["f1_unsafe"] == 0.0  # nothing reaches 1.0
    assert curve[0.7]["accuracy"] == 0.75  # only 0.9 unsafe: TP 1, FN 1, TN 2


def test_curves_are_per_source_and_the_best_threshold_is_the_lowest_among_ties() -> None:
    predictions = [
        *four(),
        scored(5, "B", True, 0.8),
        scored(6, "B", False, 0.3),
        scored(7, "C", True, None, UNSAFE_OUT),
    ]
    curves = curves_by_source(predictions)
    assert [c.source for c in curves] == ["A", "B"]  # C has no scores
    a, b = curves
    assert a.items == 4 and a.best()["threshold"] == 0.11 and a.best()["accuracy"] == 0.75
    assert b.best()["accuracy"] == 1.0 and b.best()["threshold"] == 0.31
    assert [row["count"] for row in a.calibration] == [1.0, 1.0, 1.0, 1.0]
    assert a.expected_calibration_error == pytest.approx((0.1 + 0.6 + 0.6 + 0.1) / 4)


def test_report_shows_a_reliability_diagram_and_a_threshold_curve_per_scored_source(tmp_path: Path) -> None:
    explained = [scored(10 + i, "LLM 问答", i % 2 == 0, 0.2 + 0.1 * i, UNSAFE_OUT) for i in range(6)]
    write_outputs(tmp_path, [*four(), *explained], title="t")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Calibration and thresholds per source" in page and "LLM 问答" in page
    for index in (1, 2):
        assert (tmp_path / f"calibration_source{index}.png").stat().st_size > 1000
        assert (tmp_path / f"thresholds_source{index}.png").stat().st_size > 1000
        assert f'src="calibration_source{index}.png"' in page and f'src="thresholds_source{index}.png"' in page


def test_report_without_scores_says_so_and_draws_no_source_curves(tmp_path: Path) -> None:
    write_outputs(tmp_path, [scored(1, "A", True, None, UNSAFE_OUT)], title="t")
    assert "No p_unsafe scores" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert not list(tmp_path.glob("thresholds_source*.png"))
