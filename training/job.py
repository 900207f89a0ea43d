"""One training run, start to finish: data → per guard: stage 1 → stage 2 → evaluation → gate → publish.

``config.guards`` picks the guards a run trains (``both`` by default: the fast guard and the
generative guard of the served cascade). The data is assembled once and shared; each guard is then
trained, evaluated against its own serving version on the same gold set, gated and published on
its own — a rejected fast guard does not hold back a better generative one, nor the reverse.

Every run leaves a folder ``<runs_dir>/<run id>/`` with ``config.yaml``, ``data/`` (the sets it
used and ``data_manifest.json`` with hashes), and per guard (``generative/``, ``fast/``):
``state/`` (the generative trainer's resumable state per stage), ``candidate/`` (the exported
checkpoint) and ``eval/candidate``, ``eval/serving`` (full evaluation folders); at the top,
``metrics.json`` and ``report.html`` (each gate's decision and its reason). Run it again with the
same run folder to resume an interrupted run (the generative stages resume from their state).

A serving version is evaluated through the :class:`~training.judges.Judge` the caller passes per
guard (the CLI passes Triton's); without one, from its checkpoint in the repository.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from training.config import TrainConfig
from training.data.human_labels import LabelSource
from training.datasets import RunData
from training.evaluation.runner import EvaluationResult
from training.gate import GateDecision, decide
from training.judges import Judge, TrainedCandidate, judge_on
from training.publish import PublishedVersion, checkpoint_of, publish, serving_version
from training.run_summary import write_run_summary
from training.trainer.loop import StepObserver

logger = logging.getLogger(__name__)

GUARDS = ("generative", "fast")


@dataclass
class GuardOutcome:
    guard: str
    """``generative`` or ``fast``."""
    model_name: str
    decision: GateDecision
    published: PublishedVersion | None
    candidate: EvaluationResult
    serving: EvaluationResult | None
    stages: list[dict[str, object]]


@dataclass
class RunOutcome:
    run_dir: Path
    guards: list[GuardOutcome]
    human_labels: int
    manifest: dict[str, object]

    def guard(self, name: str) -> GuardOutcome:
        return next(outcome for outcome in self.guards if outcome.guard == name)


@dataclass(frozen=True)
class _GuardSteps:
    model_name: str
    train: Callable[[TrainConfig, RunData, Path, StepObserver | None], TrainedCandidate]
    judge: Callable[[TrainConfig, Path, str], Judge]


def _steps(config: TrainConfig, guard: str) -> _GuardSteps:
    if guard == "fast":
        from training.fast_candidate import fast_judge, train_fast

        return _GuardSteps(config.fast.model_name, train_fast, fast_judge)
    from training.generative_candidate import generative_judge, train_generative

    return _GuardSteps(config.model_name, train_generative, generative_judge)


def new_run_dir(config: TrainConfig) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(config.runs_dir) / f"{stamp}-{uuid.uuid4().hex[:6]}"


def run_training(
    config: TrainConfig,
    *,
    label_sources: Sequence[LabelSource] = (),
    run_dir: Path | None = None,
    serving: Mapping[str, Judge] | None = None,
    observer: StepObserver | None = None,
    publish_candidate: bool = True,
) -> RunOutcome:
    """Train, evaluate, gate and publish every guard ``config.guards`` names.

    ``serving`` maps a guard (``generative``, ``fast``) to how its serving version is reached.
    """
    from training.datasets import assemble
    from training.generative_candidate import resolve_base

    run_dir = Path(run_dir) if run_dir is not None else new_run_dir(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.trains("generative"):
        config = resolve_base(config)
    (run_dir / "config.yaml").write_text(
        yaml.safe_dump(config.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8"
    )

    data = assemble(config, label_sources, run_dir / "data")
    (run_dir / "data" / "data_manifest.json").write_text(
        json.dumps(data.manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    logger.info(
        "run data stage1=%d stage2=%d gold=%d human=%d",
        len(data.stage1),
        len(data.stage2),
        len(data.gold),
        data.human_labels,
    )

    outcomes = [
        _run_guard(config, guard, data, run_dir / guard, (serving or {}).get(guard), observer, publish_candidate)
        for guard in GUARDS
        if config.trains(guard)
    ]
    outcome = RunOutcome(run_dir, outcomes, data.human_labels, data.manifest)
    write_run_summary(outcome)
    return outcome


def _run_guard(
    config: TrainConfig,
    guard: str,
    data: RunData,
    folder: Path,
    serving_judge: Judge | None,
    observer: StepObserver | None,
    publish_candidate: bool,
) -> GuardOutcome:
    steps = _steps(config, guard)
    repository = Path(config.repository)
    serving = serving_version(repository, steps.model_name)
    trained = steps.train(config, data, folder, observer)
    candidate = judge_on(
        data.gold,
        steps.judge(config, trained.checkpoint, str(trained.checkpoint)),
        folder / "eval" / "candidate",
        title=f"{guard} guard candidate on the gold set",
    )
    if serving_judge is None and serving is not None:
        serving_judge = steps.judge(config, checkpoint_of(repository, steps.model_name, serving), f"version {serving}")
    serving_result = None
    if serving_judge is not None:
        serving_result = judge_on(
            data.gold,
            serving_judge,
            folder / "eval" / "serving",
            title=f"serving {guard} guard ({serving_judge.label}) on the gold set",
        )
    unparseable = candidate.details["unparseable"] / max(1, candidate.details["count"])
    decision = decide(
        config.gate,
        candidate.metrics,
        unparseable,
        serving_result.metrics if serving_result else None,
        serving_version=serving_judge.label if serving_judge else None,
    )
    published = None
    if decision.publish and publish_candidate:
        published = publish(trained.checkpoint, repository, steps.model_name)
        logger.info(
            "published guard=%s model=%s version=%d path=%s", guard, steps.model_name, published.version, published.path
        )
    elif decision.publish:
        decision = GateDecision(
            False,
            decision.reason.replace("published:", "would publish (publishing disabled):"),
            decision.metric,
            decision.candidate,
            decision.serving,
        )
    logger.info("gate guard=%s: %s", guard, decision.reason)
    return GuardOutcome(guard, steps.model_name, decision, published, candidate, serving_result, trained.stages)
