"""A rich progress bar for training stages: step, loss, learning rate and throughput.

Entry points construct it and pass it to :func:`training.trainer.loop.train_stage` as its
observer; library code never prints.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from training.trainer.loop import StepInfo


class RichProgress:
    """Shows one bar per stage; the description carries the running loss and tokens/s."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.fields[stage]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._task: Any = None
        self._smoothed: float | None = None

    def on_start(self, stage: str, total_steps: int, first_step: int) -> None:
        self._progress.start()
        self._smoothed = None
        self._task = self._progress.add_task(
            stage, total=total_steps, completed=first_step, stage=stage, loss="-", speed=""
        )

    def on_step(self, info: StepInfo) -> None:
        self._smoothed = info.loss if self._smoothed is None else 0.9 * self._smoothed + 0.1 * info.loss
        self._progress.update(
            self._task,
            completed=info.step,
            loss=f"{self._smoothed:.4f}",
            speed=f"{info.tokens_per_second:,.0f} tok/s {info.examples_per_second:.1f} ex/s lr {info.learning_rate:.2e}",
        )

    def on_end(self, stage: str) -> None:
        self._progress.stop()
