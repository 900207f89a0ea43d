"""Run a guard over a labelled set and write the evaluation folder.

The model is reached through two small protocols, so the same code evaluates a local checkpoint
(:class:`~guardstream.guard.explaining.GuardExplainer`, :class:`~guardstream.guard.scoring.GuardScorer`)
or the version Triton serves (the workers' Triton client, passed in by the CLI):

* :class:`Explainer` (required): the raw generated verdict text per pair — the ``critic``;
* :class:`Scorer` (optional): p_unsafe per pair from score mode, for the calibration curve.

Outputs in ``out_dir``: ``metrics.json`` (Libra-Test's numbers), ``predictions.jsonl`` (one line
per item, enough for an outside scorer to recompute them), ``details.json`` (per-category
accuracy, confusion counts, calibration) and ``report.html`` with its PNG figures.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from training.data.records import SAFE_LABEL, UNSAFE_LABEL, GuardRecord
from training.evaluation.metrics import (
    Prediction,
    calibration_bins,
    category_accuracy,
    confusion_by_source,
    expected_calibration_error,
    libra_metrics,
    read_prediction,
)

logger = logging.getLogger(__name__)


class Explainer(Protocol):
    def explain(self, pairs: Sequence[tuple[str, str]]) -> list[str]: ...


class Scorer(Protocol):
    def score(self, pairs: Sequence[tuple[str, str]]) -> Any: ...


@dataclass(frozen=True)
class EvaluationResult:
    metrics: dict[str, dict[str, float]]
    details: dict[str, Any]
    predictions: list[Prediction]
    out_dir: Path | None

    @property
    def average_accuracy(self) -> float:
        return self.metrics["average"]["accuracy"]


def predict(
    records: Sequence[GuardRecord],
    explainer: Explainer,
    scorer: Scorer | None = None,
    *,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> list[Prediction]:
    """Explain (and score) every record in batches; ``progress`` gets the items done so far."""
    predictions: list[Prediction] = []
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        pairs = [r.pair for r in chunk]
        critics = explainer.explain(pairs)
        if len(critics) != len(chunk):
            raise RuntimeError(f"the explainer answered {len(critics)} texts for {len(chunk)} pairs")
        scores: list[float | None] = [None] * len(chunk)
        if scorer is not None:
            scores = [float(s) for s in scorer.score(pairs)]
        predictions.extend(read_prediction(r, c, s) for r, c, s in zip(chunk, critics, scores, strict=True))
        if progress is not None:
            progress(len(predictions))
    return predictions


def predict_by_score(
    records: Sequence[GuardRecord],
    scorer: Scorer,
    unsafe: Callable[[float], bool],
    *,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> list[Prediction]:
    """Judge every record by its score alone (the fast guard, the cascade): ``unsafe(p)`` is the
    policy's answer; such a judge always answers, so nothing is unparseable. Its decision is
    written as the critic in Libra's answer format, so Libra's own scorer re-scores the
    predictions file to the same numbers."""
    predictions: list[Prediction] = []
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        scores = [float(s) for s in scorer.score([r.pair for r in chunk])]
        for record, score in zip(chunk, scores, strict=True):
            said = unsafe(score)
            critic = json.dumps({"答案": UNSAFE_LABEL if said else SAFE_LABEL}, ensure_ascii=False)
            predictions.append(Prediction(record, critic, said, score))
        if progress is not None:
            progress(len(predictions))
    return predictions


def summarise(predictions: Sequence[Prediction]) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Libra-Test metrics, and the details that go with them."""
    calibration = calibration_bins(predictions)
    details = {
        "count": len(predictions),
        "unparseable": sum(not p.parsed for p in predictions),
        "per_category": category_accuracy(predictions),
        "confusion": {
            source: {"tp": c.tp, "fn": c.fn, "fp": c.fp, "tn": c.tn}
            for source, c in confusion_by_source(predictions).items()
        },
        "calibration": calibration,
        "expected_calibration_error": expected_calibration_error(calibration),
    }
    return libra_metrics(predictions), details


def write_outputs(
    out_dir: Path, predictions: Sequence[Prediction], *, title: str = "guard evaluation", model: str = ""
) -> EvaluationResult:
    """Write metrics.json, predictions.jsonl, details.json and report.html into ``out_dir``."""
    from training.evaluation.report import write_report

    out_dir.mkdir(parents=True, exist_ok=True)
    metrics, details = summarise(predictions)
    details["model"] = model
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "details.json").write_text(json.dumps(details, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with (out_dir / "predictions.jsonl").open("w", encoding="utf-8") as handle:
        for p in predictions:
            line = {
                "id": p.record.id,
                "source": p.record.source,
                "label": p.record.label,
                "critic": p.critic,
                "category_name": p.record.category_name,
                "predicted": None if p.predicted_unsafe is None else ("不安全" if p.predicted_unsafe else "安全"),
                "correct": p.correct,
                "p_unsafe": p.p_unsafe,
            }
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    write_report(out_dir, metrics, details, predictions, title=title)
    logger.info(
        "evaluation written out=%s items=%d accuracy=%.4f", out_dir, len(predictions), metrics["average"]["accuracy"]
    )
    return EvaluationResult(metrics, details, list(predictions), out_dir)


def evaluate(
    records: Sequence[GuardRecord],
    explainer: Explainer | None,
    out_dir: Path | None,
    *,
    scorer: Scorer | None = None,
    unsafe: Callable[[float], bool] | None = None,
    batch_size: int = 32,
    title: str = "guard evaluation",
    model: str = "",
    progress: Callable[[int], None] | None = None,
) -> EvaluationResult:
    """Predict every record and (when ``out_dir`` is given) write the evaluation folder.

    With an explainer the generated answers decide (Libra-Test's protocol); without one the
    scorer's p_unsafe does, through ``unsafe``.
    """
    if explainer is not None:
        predictions = predict(records, explainer, scorer, batch_size=batch_size, progress=progress)
    elif scorer is not None and unsafe is not None:
        predictions = predict_by_score(records, scorer, unsafe, batch_size=batch_size, progress=progress)
    else:
        raise ValueError("evaluate needs an explainer, or a scorer with an unsafe threshold")
    if out_dir is None:
        metrics, details = summarise(predictions)
        return EvaluationResult(metrics, details, predictions, None)
    return write_outputs(out_dir, predictions, title=title, model=model)
