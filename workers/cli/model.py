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
    seed: Annotated[int, typer.Option(help="Seed of the random weights.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if a complete checkpoint is there.")
    ] = False,
) -> None:
    """Build the tiny default guard checkpoint (no download; untrained, verdicts meaningless)."""
    from training.default_model import DefaultModelSpec, build_default_checkpoint, is_complete

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    if not force and is_complete(out, DefaultModelSpec(seed=seed)):
        typer.echo(f"up to date: {out} (seed {seed}); use --force to rebuild")
        return
    started = time.perf_counter()
    path = build_default_checkpoint(out, seed=seed, force=force)
    typer.echo(f"built {path} (seed {seed}) in {time.perf_counter() - started:.1f} s")
