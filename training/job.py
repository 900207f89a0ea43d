"""One training run, start to finish: data → stage 1 → stage 2 → evaluation → gate → publish.

Every run leaves a folder ``<runs_dir>/<run id>/`` with ``config.yaml``, ``data/`` (the sets it
used and ``data_manifest.json`` with hashes), ``state/`` (resumable trainer state per stage),
``candidate/`` (the exported checkpoint), ``eval/candidate`` and ``eval/serving`` (full
evaluation folders), ``metrics.json`` and ``report.html`` (the gate's decision and its reason).
Run it again with the same run folder to resume an interrupted run.

The serving model is evaluated through the :class:`~training.evaluation.runner.Explainer` the
caller passes (the CLI passes Triton's); without one, from its checkpoint in the repository.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from training.config import TrainConfig
from training.data.human_labels import LabelSource
from training.evaluation.runner import EvaluationResult, Explainer, Scorer, evaluate
from training.gate import GateDecision, decide
from training.publish import PublishedVersion, checkpoint_of, publish, serving_version
from training.trainer.loop import StageResult, StepObserver

logger = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    run_dir: Path
    decision: GateDecision
    published: PublishedVersion | None
    candidate: EvaluationResult
    serving: EvaluationResult | None
    stages: list[StageResult]


def new_run_dir(config: TrainConfig) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(config.runs_dir) / f"{stamp}-{uuid.uuid4().hex[:6]}"


def run_training(
    config: TrainConfig,
    *,
    label_sources: Sequence[LabelSource] = (),
    run_dir: Path | None = None,
    serving_explainer: Explainer | None = None,
    serving_scorer: Scorer | None = None,
    serving_name: str | None = None,
    observer: StepObserver | None = None,
    publish_candidate: bool = True,
) -> RunOutcome:
    import torch

    from guardstream.guard.explaining import GuardExplainer
    from guardstream.guard.scoring import GuardScorer
    from training.datasets import assemble
    from training.trainer.encoding import ExampleEncoder
    from training.trainer.loop import train_stage
    from training.trainer.model_setup import export_model, prepare_model

    run_dir = Path(run_dir) if run_dir is not None else new_run_dir(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8")
    repository = Path(config.repository)
    serving = serving_version(repository, config.model_name)
    if config.model.base == "serving":
        if serving is None:
            raise RuntimeError(f"model.base=serving, but {repository / config.model_name} has no version with a checkpoint")
        config.model.base = str(checkpoint_of(repository, config.model_name, serving))

    data = assemble(config, label_sources, run_dir / "data")
    (run_dir / "data" / "data_manifest.json").write_text(json.dumps(data.manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("run data stage1=%d stage2=%d gold=%d human=%d", len(data.stage1), len(data.stage2), len(data.gold), data.human_labels)

    torch.manual_seed(config.seed)
    prepared = prepare_model(config.model)
    encoder = ExampleEncoder(prepared.tokenizer, config.model.max_length, config.stage1.answer_weight)
    pad_id = prepared.tokenizer.pad_token_id
    stages: list[StageResult] = []
    for name, records, stage in (("stage1", data.stage1, config.stage1), ("stage2", data.stage2, config.stage2)):
        if stage.steps <= 0 or not records:
            logger.info("%s skipped (steps=%d, records=%d)", name, stage.steps, len(records))
            continue
        encoder.answer_weight = stage.answer_weight
        examples = [encoder.encode(r) for r in records]
        stages.append(train_stage(name, prepared.model, examples, stage, pad_id=pad_id, seed=config.seed,
                                  device=prepared.device, state_dir=run_dir / "state" / name, observer=observer))
    candidate_dir = export_model(prepared, run_dir / "candidate")
    del prepared

    batch = config.gate.eval_batch_size
    candidate = evaluate(
        data.gold, GuardExplainer(candidate_dir, device=config.model.device, dtype=config.model.dtype, max_batch_size=batch),
        run_dir / "eval" / "candidate", scorer=GuardScorer(candidate_dir, device=config.model.device, dtype=config.model.dtype),
        batch_size=batch, title="candidate on the gold set", model=str(candidate_dir),
    )
    serving_result: EvaluationResult | None = None
    serving_label = serving_name or (f"version {serving}" if serving is not None else None)
    if serving_explainer is None and serving is not None:
        path = checkpoint_of(repository, config.model_name, serving)
        serving_explainer = GuardExplainer(path, device=config.model.device, dtype=config.model.dtype, max_batch_size=batch)
        serving_scorer = serving_scorer or GuardScorer(path, device=config.model.device, dtype=config.model.dtype)
    if serving_explainer is not None:
        serving_result = evaluate(data.gold, serving_explainer, run_dir / "eval" / "serving", scorer=serving_scorer,
                                  batch_size=batch, title=f"serving model ({serving_label}) on the gold set",
                                  model=serving_label or "")
    unparseable = candidate.details["unparseable"] / max(1, candidate.details["count"])
    decision = decide(config.gate, candidate.metrics, unparseable,
                      serving_result.metrics if serving_result else None, serving_version=serving_label)
    published = None
    if decision.publish and publish_candidate:
        published = publish(candidate_dir, repository, config.model_name)
        logger.info("published version=%d path=%s", published.version, published.path)
    elif decision.publish:
        decision = GateDecision(False, decision.reason.replace("published:", "would publish (publishing disabled):"),
                                decision.metric, decision.candidate, decision.serving)
    logger.info("gate: %s", decision.reason)
    outcome = RunOutcome(run_dir, decision, published, candidate, serving_result, stages)
    _write_run_summary(outcome, data.manifest, data.human_labels)
    return outcome


def _write_run_summary(outcome: RunOutcome, manifest: dict[str, Any], human_labels: int) -> None:
    summary = {
        "decision": outcome.decision.to_dict(),
        "published_version": outcome.published.version if outcome.published else None,
        "candidate": outcome.candidate.metrics,
        "serving": outcome.serving.metrics if outcome.serving else None,
        "human_labels": human_labels,
        "stages": [
            {"stage": s.stage, "steps": s.steps, "resumed_from": s.resumed_from, "seconds": round(s.seconds, 1),
             "final_loss": s.final_loss}
            for s in outcome.stages
        ],
    }
    (outcome.run_dir / "metrics.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{m['accuracy']:.4f}</td><td>{m['f1_safe']:.4f}</td><td>{m['f1_unsafe']:.4f}</td></tr>"
        for label, result in (("candidate", outcome.candidate), ("serving", outcome.serving)) if result
        for name, m in ((f"{label}: {k}", v) for k, v in result.metrics.items())
    )
    stage_rows = "".join(
        f"<tr><td>{s['stage']}</td><td>{s['steps']}</td><td>{s['resumed_from']}</td><td>{s['seconds']}</td><td>{s['final_loss']}</td></tr>"
        for s in summary["stages"]
    )
    verdict = "PUBLISHED" if outcome.published else "NOT PUBLISHED"
    page = (
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>training run</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:.3em .6em}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>training run {html.escape(outcome.run_dir.name)}</h1>"
        f"<h2>Quality gate: {verdict}</h2><p id=\"gate-reason\">{html.escape(outcome.decision.reason)}</p>"
        + (f"<p>New version: {outcome.published.version} at {html.escape(str(outcome.published.path))}</p>" if outcome.published else "")
        + "<h2>Gold-set metrics</h2><table><tr><th>model: source</th><th>accuracy</th><th>F1-safe</th><th>F1-unsafe</th></tr>"
        + rows + "</table>"
        + "<h2>Stages</h2><table><tr><th>stage</th><th>steps</th><th>resumed from</th><th>seconds</th><th>final loss</th></tr>"
        + stage_rows + "</table>"
        + f"<h2>Data</h2><p>{human_labels} human labels.</p><pre>{html.escape(json.dumps(manifest, indent=2, ensure_ascii=False))}</pre>"
        + "<p>Full evaluations: <a href=\"eval/candidate/report.html\">candidate</a>"
        + (" · <a href=\"eval/serving/report.html\">serving</a>" if outcome.serving else "")
        + "</p></body></html>\n"
    )
    (outcome.run_dir / "report.html").write_text(page, encoding="utf-8")
