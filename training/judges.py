"""A guard version as the gate sees it: how it answers, and its evaluation on a labelled set.

A generative guard answers with generated text (an :class:`Explainer`, Libra-Test's protocol) and
gives p_unsafe from score mode for calibration; a fast guard only scores, and its threshold turns
p_unsafe into the answer. Both are evaluated by the same runner into the same folder layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.data.records import GuardRecord
from training.evaluation.runner import EvaluationResult, Explainer, Scorer, evaluate


@dataclass(frozen=True)
class Judge:
    label: str
    """What is judged, for reports: a checkpoint path, or "Triton guard_fast (serving now)"."""
    explainer: Explainer | None = None
    scorer: Scorer | None = None
    unsafe: Callable[[float], bool] | None = None
    """Without an explainer: the answer for a p_unsafe."""
    batch_size: int = 16


@dataclass(frozen=True)
class TrainedCandidate:
    checkpoint: Path
    stages: list[dict[str, Any]] = field(default_factory=list)
    """Per stage: stage, steps, resumed_from, seconds, final_loss (and what else the trainer reports)."""


def judge_on(records: Sequence[GuardRecord], judge: Judge, out_dir: Path, *, title: str) -> EvaluationResult:
    return evaluate(
        records,
        judge.explainer,
        out_dir,
        scorer=judge.scorer,
        unsafe=judge.unsafe,
        batch_size=judge.batch_size,
        title=title,
        model=judge.label,
    )
