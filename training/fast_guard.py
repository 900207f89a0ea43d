"""Training the fast guard: a pretrained encoder fine-tuned in two stages.

Stage 1 teaches the task on synthetic (question, response) pairs across the seven scenarios;
stage 2 fine-tunes on real labelled data (curated files, human labels) with a replay of stage-1
items against forgetting. The loss is binary cross-entropy on the unsafe head plus, for unsafe
items whose scenario is known, cross-entropy on the category head. Batches group similar lengths
(a shuffled order of length-sorted chunks), which keeps padding — and so CPU time — low.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

from guardstream.guard.fast_guard import (
    CATEGORIES,
    ENCODER_DIR,
    HEADS_FILE,
    FastGuardContract,
    FastGuardNetwork,
    LexicalHashing,
    LexicalHead,
    PairEncoder,
)
from training.config import FastStageConfig
from training.data.records import GuardRecord
from training.trainer.loop import NullObserver, StepInfo, StepObserver

NO_CATEGORY = -100
_CATEGORY_INDEX = {category: index for index, category in enumerate(CATEGORIES)}


@dataclass(frozen=True)
class FastTrainResult:
    steps: int
    final_loss: float
    seconds: float
    examples: int


def new_network(base_checkpoint: Path, lexical: LexicalHashing | None = None) -> tuple[FastGuardNetwork, Any]:
    """A fast guard on any Hugging Face encoder checkpoint, heads freshly initialised."""
    tokenizer = AutoTokenizer.from_pretrained(base_checkpoint, local_files_only=True)
    encoder = AutoModel.from_pretrained(base_checkpoint, local_files_only=True, add_pooling_layer=False)
    return FastGuardNetwork(encoder, encoder.config.hidden_size, lexical), tokenizer


def network_from_checkpoint(checkpoint: Path) -> tuple[FastGuardNetwork, Any, FastGuardContract]:
    """A fast-guard checkpoint (encoder, heads, lexical head and mix) ready to train further."""
    contract = FastGuardContract.read(checkpoint)
    network, tokenizer = new_network(checkpoint / ENCODER_DIR, contract.lexical)
    network.load_heads(load_file(str(checkpoint / HEADS_FILE)))
    return network, tokenizer, contract


def _batches(records: Sequence[GuardRecord], batch_size: int, rng: random.Random) -> list[list[GuardRecord]]:
    order = list(records)
    rng.shuffle(order)
    chunk = batch_size * 32
    batches: list[list[GuardRecord]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda r: len(r.question) + len(r.response))
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def _targets(batch: Sequence[GuardRecord]) -> tuple[torch.Tensor, torch.Tensor]:
    unsafe = torch.tensor([1.0 if record.unsafe else 0.0 for record in batch])
    category = torch.tensor(
        [
            _CATEGORY_INDEX.get(record.category, NO_CATEGORY) if record.unsafe and record.category else NO_CATEGORY
            for record in batch
        ]
    )
    return unsafe, category


def train_fast_stage(
    stage: str,
    network: FastGuardNetwork,
    encoder: PairEncoder,
    records: Sequence[GuardRecord],
    config: FastStageConfig,
    *,
    seed: int,
    observer: StepObserver | None = None,
) -> FastTrainResult:
    """One stage of fine-tuning over ``records``; the network is trained in place."""
    observer = observer or NullObserver()
    rng = random.Random(seed)
    per_epoch = math.ceil(len(records) / config.batch_size)
    total = max(1, math.ceil(per_epoch * config.epochs))
    if config.max_steps:
        total = min(total, config.max_steps)
    heads = [*network.unsafe.parameters(), *network.category.parameters()]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in network.encoder.parameters() if p.requires_grad], "lr": config.learning_rate},
            {"params": heads, "lr": config.head_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )
    peaks = [group["lr"] for group in optimizer.param_groups]
    warmup = max(1, int(total * config.warmup_fraction))
    network.train()
    device = next(network.parameters()).device
    observer.on_start(stage, total, 0)
    started, step, tokens, loss_value = time.perf_counter(), 0, 0, float("nan")
    pending: list[list[GuardRecord]] = []
    while step < total:
        if not pending:
            pending = _batches(records, config.batch_size, rng)
        batch = pending.pop()
        scale = (step + 1) / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
        for group, peak in zip(optimizer.param_groups, peaks, strict=True):
            group["lr"] = peak * scale
        tensors = encoder.batch([record.pair for record in batch], device)
        unsafe_logit, category_logits = network(**tensors)
        unsafe_target, category_target = _targets(batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(unsafe_logit, unsafe_target.to(device))
        if (category_target != NO_CATEGORY).any():
            loss = loss + config.category_weight * torch.nn.functional.cross_entropy(
                category_logits, category_target.to(device), ignore_index=NO_CATEGORY
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()
        step += 1
        tokens += int(tensors["attention_mask"].sum())
        loss_value = float(loss.detach())
        elapsed = time.perf_counter() - started
        observer.on_step(
            StepInfo(
                stage=stage,
                step=step,
                total_steps=total,
                loss=loss_value,
                learning_rate=optimizer.param_groups[0]["lr"],
                tokens_per_second=tokens / max(elapsed, 1e-9),
                examples_per_second=step * config.batch_size / max(elapsed, 1e-9),
            )
        )
    observer.on_end(stage)
    network.eval()
    return FastTrainResult(step, loss_value, time.perf_counter() - started, len(records))


def freeze_lower(network: FastGuardNetwork, layers: int) -> None:
    """Keep the word embeddings and the lowest ``layers`` transformer layers as pretrained.

    Nothing below the first trainable layer needs a gradient, so backpropagation stops there:
    on a CPU, freezing the embeddings and half of a 4-layer encoder cuts a step's time by about a
    third while the upper layers, which adapt most in fine-tuning, still learn.
    """
    for parameter in network.encoder.get_input_embeddings().parameters():
        parameter.requires_grad = False
    if layers <= 0:
        return
    stack = getattr(getattr(network.encoder, "encoder", None), "layer", None)
    if stack is None:
        raise ValueError(f"{type(network.encoder).__name__} has no encoder.layer stack to freeze layers of")
    if layers >= len(stack):
        raise ValueError(f"cannot freeze {layers} of {len(stack)} layers: nothing would be left to train")
    for parameter in network.encoder.embeddings.parameters():
        parameter.requires_grad = False
    for layer in stack[:layers]:
        for parameter in layer.parameters():
            parameter.requires_grad = False


def train_lexical(
    head: LexicalHead, records: Sequence[GuardRecord], *, epochs: int = 2, batch_size: int = 64, seed: int = 0
) -> float:
    """Fit the lexical head on every record (seconds per epoch); returns the last epoch's mean loss."""
    rng = random.Random(seed)
    device = head.bias.device
    optimizer = torch.optim.Adagrad(head.parameters(), lr=0.5)
    features = [head.hashing.features(*record.pair) for record in records]
    targets = torch.tensor([1.0 if record.unsafe else 0.0 for record in records], device=device)
    mean_loss = float("nan")
    head.train()
    for _ in range(epochs):
        order = list(range(len(records)))
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            logit = head.logits([features[row] for row in rows])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, targets[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        mean_loss = total / max(1, len(records))
    head.eval()
    return mean_loss


@torch.no_grad()
def _logits(
    network: FastGuardNetwork, encoder: PairEncoder, records: Sequence[GuardRecord], batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    assert network.lexical is not None
    device = next(network.parameters()).device
    deep: list[torch.Tensor] = []
    wide: list[torch.Tensor] = []
    for start in range(0, len(records), batch_size):
        pairs = [record.pair for record in records[start : start + batch_size]]
        deep.append(network(**encoder.batch(pairs, device))[0].float().cpu())
        wide.append(network.lexical(pairs).float().cpu())
    return torch.cat(deep), torch.cat(wide)


def fit_mix(network: FastGuardNetwork, encoder: PairEncoder, records: Sequence[GuardRecord]) -> list[float]:
    """Weigh the encoder's and the lexical head's logits by logistic regression on held-out records
    (neither head saw them); stores and returns [encoder weight, lexical weight, bias]."""
    deep, wide = _logits(network, encoder, records)
    target = torch.tensor([1.0 if record.unsafe else 0.0 for record in records])
    mix = torch.tensor([1.0, 1.0, 0.0], requires_grad=True)
    optimizer = torch.optim.LBFGS([mix], lr=0.5, max_iter=100)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(mix[0] * deep + mix[1] * wide + mix[2], target)
        loss = loss + 1e-3 * (mix[:2] ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    network.mix.data.copy_(mix.detach())
    return [round(float(value), 6) for value in mix.detach()]
