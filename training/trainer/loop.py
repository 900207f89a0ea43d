"""One training stage: seeded batches, AdamW with warm-up and linear decay, resumable state.

Batches are a pure function of (seed, step): epoch ``e`` visits the examples in the order of a
permutation seeded by ``(seed, e)``. A stage therefore resumes exactly where it stopped from its
last state folder (``<state_dir>/step-<N>/``: trainable weights, optimizer, scheduler and the
torch RNG), and two runs with the same seed see the same batches.

Progress goes to a :class:`StepObserver` (the CLI shows a rich progress bar with loss and
throughput; tests record the losses); each step is also appended to ``<state_dir>/log.jsonl``.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from training.config import StageConfig
from training.trainer.encoding import Example, collate
from training.trainer.loss import sft_loss

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"


@dataclass(frozen=True)
class StepInfo:
    stage: str
    step: int
    total_steps: int
    loss: float
    learning_rate: float
    tokens_per_second: float
    examples_per_second: float


class StepObserver(Protocol):
    def on_start(self, stage: str, total_steps: int, first_step: int) -> None: ...

    def on_step(self, info: StepInfo) -> None: ...

    def on_end(self, stage: str) -> None: ...


class NullObserver:
    def on_start(self, stage: str, total_steps: int, first_step: int) -> None:
        pass

    def on_step(self, info: StepInfo) -> None:
        pass

    def on_end(self, stage: str) -> None:
        pass


@dataclass
class StageResult:
    stage: str
    steps: int
    resumed_from: int
    losses: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    target_tokens: int = 0

    @property
    def final_loss(self) -> float | None:
        tail = [loss for _, loss in self.losses[-20:]]
        return sum(tail) / len(tail) if tail else None


def batch_indices(step: int, batch_size: int, n: int, seed: int) -> list[int]:
    """Indices of the examples of ``step`` (epoch permutations seeded by ``(seed, epoch)``)."""
    out: list[int] = []
    position = step * batch_size
    while len(out) < batch_size:
        epoch, offset = divmod(position, n)
        order = list(range(n))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        take = min(batch_size - len(out), n - offset)
        out.extend(order[offset : offset + take])
        position += take
    return out


def _lr_lambda(config: StageConfig) -> Any:
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / max(1, config.warmup_steps)
        span = max(1, config.steps - config.warmup_steps)
        progress = min(1.0, (step - config.warmup_steps) / span)
        return max(config.min_lr_ratio, 1.0 - progress * (1.0 - config.min_lr_ratio))

    return factor


def _latest_state(state_dir: Path) -> Path | None:
    steps = sorted(
        (int(p.name.split("-", 1)[1]), p)
        for p in state_dir.glob("step-*")
        if p.is_dir() and p.name.split("-", 1)[1].isdigit() and (p / STATE_FILE).is_file()
    )
    return steps[-1][1] if steps else None


def _trainable_state(model: Any) -> dict[str, torch.Tensor]:
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def _save_state(state_dir: Path, step: int, model: Any, optimizer: Any, scheduler: Any) -> None:
    target = state_dir / f"step-{step}"
    staging = state_dir / f".step-{step}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    torch.save(
        {
            "step": step,
            "weights": _trainable_state(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
        },
        staging / STATE_FILE,
    )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    for old in state_dir.glob("step-*"):
        if old != target and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def train_stage(
    name: str,
    model: Any,
    examples: Sequence[Example],
    config: StageConfig,
    *,
    pad_id: int,
    seed: int,
    device: torch.device,
    state_dir: Path | None = None,
    observer: StepObserver | None = None,
) -> StageResult:
    """Train ``model`` in place for ``config.steps`` steps (resuming from ``state_dir`` if it can)."""
    if not examples:
        raise ValueError(f"stage {name}: no training examples")
    observer = observer or NullObserver()
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config))
    first = 0
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
        latest = _latest_state(state_dir)
        if latest is not None:
            state = torch.load(latest / STATE_FILE, map_location="cpu", weights_only=False)
            named = dict(model.named_parameters())
            with torch.no_grad():
                for key, value in state["weights"].items():
                    named[key].copy_(value.to(named[key].device))
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
            first = int(state["step"])
            logger.info("stage %s resumed at step %d from %s", name, first, latest)
    result = StageResult(stage=name, steps=config.steps, resumed_from=first)
    log = (state_dir / "log.jsonl").open("a", encoding="utf-8") if state_dir is not None else None
    model.train()
    observer.on_start(name, config.steps, first)
    started = time.perf_counter()
    try:
        for step in range(first, config.steps):
            tick = time.perf_counter()
            batch = collate([examples[i] for i in batch_indices(step, config.batch_size, len(examples), seed)], pad_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            loss, target_tokens = sft_loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
            optimizer.step()
            scheduler.step()
            elapsed = max(time.perf_counter() - tick, 1e-9)
            value = float(loss.detach())
            result.losses.append((step + 1, value))
            result.target_tokens += target_tokens
            tokens = int(batch["attention_mask"].sum())
            info = StepInfo(
                name,
                step + 1,
                config.steps,
                value,
                scheduler.get_last_lr()[0],
                tokens / elapsed,
                config.batch_size / elapsed,
            )
            observer.on_step(info)
            if log is not None:
                log.write(
                    json.dumps(
                        {
                            "stage": name,
                            "step": step + 1,
                            "loss": value,
                            "lr": info.learning_rate,
                            "tokens_per_s": round(info.tokens_per_second, 1),
                        }
                    )
                    + "\n"
                )
            done = step + 1
            if (
                state_dir is not None
                and config.checkpoint_every > 0
                and (done % config.checkpoint_every == 0 or done == config.steps)
            ):
                _save_state(state_dir, done, model, optimizer, scheduler)
    finally:
        if log is not None:
            log.close()
        observer.on_end(name)
    model.eval()
    result.seconds = time.perf_counter() - started
    logger.info(
        "stage %s done steps=%d seconds=%.1f final_loss=%s", name, config.steps, result.seconds, result.final_loss
    )
    return result
