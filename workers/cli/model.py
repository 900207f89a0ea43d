"""`guardstream model …`: build and inspect guard model checkpoints."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import typer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKPOINT = REPO_ROOT / "triton_models" / "guard" / "1" / "checkpoint"

app = typer.Typer(
    help="Guard model checkpoints: build the embedded default model that Triton serves.",
    no_args_is_help=True,
)


@app.callback()
def model() -> None:
    """Guard model checkpoints: build the embedded default model that Triton serves."""


@app.command("build-default")
def build_default(
    out: Annotated[
        Path,
        typer.Option(help="Checkpoint folder to write (replaced atomically when rebuilt)."),
    ] = DEFAULT_CHECKPOINT,
    seed: Annotated[int, typer.Option(help="Seed of the initial weights.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if a complete checkpoint is there.")
    ] = False,
    steps: Annotated[int | None, typer.Option(help="Training steps (default: the embedded default's).")] = None,
) -> None:
    """Train the tiny default guard model from scratch on synthetic data (no download; cached)."""
    from dataclasses import replace

    from training.default_model import DefaultModelSpec
    from training.embedded_default import TrainedDefaultSpec, build_trained_default, is_complete

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    spec = TrainedDefaultSpec(model=DefaultModelSpec(seed=seed))
    if steps is not None:
        spec = replace(spec, steps=steps)
    if not force and is_complete(out, spec):
        typer.echo(f"up to date: {out} (seed {seed}); use --force to rebuild")
        return
    from training.trainer.progress import RichProgress

    started = time.perf_counter()
    manifest = build_trained_default(out, spec, force=force, observer=RichProgress())
    metrics = manifest["heldout"]["metrics"]["average"]
    typer.echo(
        f"built {out} (seed {seed}) in {time.perf_counter() - started:.1f} s: training "
        f"{manifest['training']['seconds']} s, held-out synthetic accuracy {metrics['accuracy']:.4f} "
        f"(F1-safe {metrics['f1_safe']:.4f}, F1-unsafe {metrics['f1_unsafe']:.4f}); report: {out}/evaluation/report.html"
    )