"""A training run's ``metrics.json`` and ``report.html``: per guard, the gate's decision and its
reason, the gold-set metrics of candidate and serving version, and the stages; then the data."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.job import GuardOutcome, RunOutcome


def guard_summary(outcome: GuardOutcome) -> dict[str, Any]:
    return {
        "model_name": outcome.model_name,
        "decision": outcome.decision.to_dict(),
        "published_version": outcome.published.version if outcome.published else None,
        "candidate": outcome.candidate.metrics,
        "serving": outcome.serving.metrics if outcome.serving else None,
        "stages": outcome.stages,
    }


def write_run_summary(outcome: RunOutcome) -> None:
    summary = {"human_labels": outcome.human_labels, "guards": {g.guard: guard_summary(g) for g in outcome.guards}}
    (outcome.run_dir / "metrics.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    page = (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>training run</title>'
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:.3em .6em}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>training run {html.escape(outcome.run_dir.name)}</h1>"
        + "".join(_guard_section(g) for g in outcome.guards)
        + f"<h2>Data</h2><p>{outcome.human_labels} human labels.</p>"
        f"<pre>{html.escape(json.dumps(outcome.manifest, indent=2, ensure_ascii=False))}</pre></body></html>\n"
    )
    (outcome.run_dir / "report.html").write_text(page, encoding="utf-8")


def _guard_section(outcome: GuardOutcome) -> str:
    guard = outcome.guard
    rows = "".join(
        f"<tr><td>{html.escape(label)}: {html.escape(source)}</td><td>{m['accuracy']:.4f}</td><td>{m['f1_safe']:.4f}</td>"
        f"<td>{m['f1_unsafe']:.4f}</td></tr>"
        for label, result in (("candidate", outcome.candidate), ("serving", outcome.serving))
        if result
        for source, m in result.metrics.items()
    )
    stage_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(s.get(key, '')))}</td>"
            for key in ("stage", "steps", "resumed_from", "seconds", "final_loss")
        )
        + "</tr>"
        for s in outcome.stages
    )
    verdict = "PUBLISHED" if outcome.published else "NOT PUBLISHED"
    return (
        f'<section id="{guard}"><h2>{guard} guard ({html.escape(outcome.model_name)}) — quality gate: {verdict}</h2>'
        f'<p class="gate-reason">{html.escape(outcome.decision.reason)}</p>'
        + (
            f"<p>New version: {outcome.published.version} at {html.escape(str(outcome.published.path))}</p>"
            if outcome.published
            else ""
        )
        + "<h3>Gold-set metrics</h3><table><tr><th>model: source</th><th>accuracy</th><th>F1-safe</th><th>F1-unsafe</th></tr>"
        + rows
        + "</table>"
        + "<h3>Stages</h3><table><tr><th>stage</th><th>steps</th><th>resumed from</th><th>seconds</th><th>final loss</th></tr>"
        + stage_rows
        + "</table>"
        + f'<p>Full evaluations: <a href="{guard}/eval/candidate/report.html">candidate</a>'
        + (f' · <a href="{guard}/eval/serving/report.html">serving</a>' if outcome.serving else "")
        + "</p></section>"
    )
