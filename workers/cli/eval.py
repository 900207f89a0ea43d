"""`guardstream eval`: Libra-Test's protocol on any Libra-Test-format file.

Without ``--model`` the version Triton serves now is evaluated, through Triton (explain mode for
the answers, score mode for calibration). ``--model`` takes a checkpoint folder, or a version
number of the model repository, and evaluates it locally.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_eval(
    data: Annotated[Path, typer.Option("--data", help="Libra-Test-format file: JSON array, JSONL or Parquet.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for metrics.json, predictions.jsonl and report.html.")],
    model: Annotated[
        str | None,
        typer.Option("--model", help="Checkpoint folder, or a version number in the model repository; default: Triton's serving version."),
    ] = None,
    repository: Annotated[Path, typer.Option(help="Triton model repository (to resolve a version number).")] = REPO_ROOT / "triton_models",
    device: Annotated[str, typer.Option(help="Device for a local model: cpu, cuda, cuda:N or auto.")] = "cpu",
    batch_size: Annotated[int, typer.Option(help="Pairs per explain/score call.")] = 16,
    max_new_tokens: Annotated[int, typer.Option(help="Most tokens a local model may generate per answer.")] = 128,
) -> None:
    """Evaluate a guard model on a labelled file with Libra-Test's protocol (accuracy, F1 per source)."""
    from rich.progress import Progress

    from training.data.files import DataFileError, read_records
    from training.evaluation.runner import evaluate

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        records = read_records(data)
    except DataFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    explainer, scorer, name, closer = _model(model, repository, device, batch_size, max_new_tokens)
    try:
        with Progress() as progress:
            task = progress.add_task("evaluating", total=len(records))
            result = evaluate(
                records, explainer, out, scorer=scorer, batch_size=batch_size, title=f"{name} on {data.name}",
                model=name, progress=lambda done: progress.update(task, completed=done),
            )
    finally:
        if closer is not None:
            closer()
    typer.echo(json.dumps(result.metrics, indent=2, ensure_ascii=False))
    typer.echo(f"wrote {out / 'metrics.json'}, {out / 'predictions.jsonl'}, {out / 'report.html'}")


def _model(model: str | None, repository: Path, device: str, batch: int, max_new_tokens: int) -> tuple[Any, Any, str, Any]:
    if model is None:
        from guardstream.settings import load_settings
        from workers.triton_client import GuardModelClient

        settings = load_settings()
        client = GuardModelClient(settings.triton)
        return client, client, f"Triton {settings.triton.model_name} (serving version)", client.close
    from guardstream.guard.explaining import GuardExplainer
    from guardstream.guard.scoring import GuardScorer

    path = Path(model)
    if model.isdigit() and not path.exists():
        path = repository / "guard" / model / "checkpoint"
    if not path.is_dir():
        raise typer.BadParameter(f"no checkpoint folder at {path}", param_hint="--model")
    explainer = GuardExplainer(path, device=device, max_batch_size=batch, max_new_tokens=max_new_tokens)
    return explainer, GuardScorer(path, device=device, max_batch_size=batch), str(path), None
