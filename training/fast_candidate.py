"""The fast guard's candidate: an encoder with heads, fine-tuned in two stages on the run's data.

Where it starts (``fast.base``): the fast guard served now, the pretrained bge-small-zh-v1.5, or
any local Hugging Face encoder checkpoint. Stage 1 trains on the run's synthetic pairs, stage 2 on
its real files and human labels with the stage-1 replay the data assembly mixed in and, as the
default build does, copies of them with attacks, padding or reports added (labels kept) and lone
moderation talk; a fresh fast guard gets the default build's injection defences too (its lexical
hashing and prefix scoring: ``training.embedded_fast_guard.fresh_contract``). The lexical
head (when the model has one) learns from every training item, and the mix of its logit with the
encoder's is fitted on the dev split, which neither head trained on (a fresh synthetic held-out
set when the run has no dev items). The gold set is never seen here. Written to
``<folder>/candidate/`` in the format Triton's ``guard_fast`` serves.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from training.config import TrainConfig
from training.data.records import GuardRecord
from training.datasets import RunData
from training.judges import Judge, TrainedCandidate
from training.publish import checkpoint_of, serving_version
from training.trainer.loop import StepObserver

logger = logging.getLogger(__name__)


def starting_point(config: TrainConfig) -> tuple[Any, Any, Any, str]:
    """(network, tokenizer, contract, description) of what the candidate starts from."""
    from training.embedded_fast_guard import PROFILES, fresh_contract
    from training.fast_guard import network_from_checkpoint, new_network

    fast = config.fast
    base = fast.base
    if base == "serving":
        repository = Path(config.repository)
        serving = serving_version(repository, fast.model_name)
        if serving is not None:
            checkpoint = checkpoint_of(repository, fast.model_name, serving)
            network, tokenizer, contract = network_from_checkpoint(checkpoint)
            return network, tokenizer, contract, f"serving version {serving} ({checkpoint})"
        logger.info(
            "nothing served under %s yet; the fast guard starts from the pretrained encoder",
            repository / fast.model_name,
        )
        base = "pretrained"
    if base == "pretrained":
        from training.pretrained.bge_small_zh import base_encoder_checkpoint

        encoder_path = base_encoder_checkpoint(Path(fast.pretrained_cache))
    else:
        encoder_path = Path(base)
    contract = fresh_contract(replace(PROFILES["full"], max_input_tokens=fast.max_input_tokens, lexical=fast.lexical))
    network, tokenizer = new_network(encoder_path, contract.lexical)
    return network, tokenizer, contract, f"encoder {encoder_path}"


def _real(data: RunData) -> list[GuardRecord]:
    """Stage 2's own items: real files and human labels, not the stage-1 replay mixed in."""
    replayed = {record.id for record in data.stage1}
    return [record for record in data.stage2 if record.id not in replayed]


def _mix_set(config: TrainConfig, data: RunData) -> list[GuardRecord]:
    if data.dev:
        return data.dev
    from training.data.synthetic.generator import SyntheticConfig, generate

    return generate(
        SyntheticConfig(
            count=config.data.heldout_count,
            seed=config.data.heldout_seed + 1,
            frames="heldout",
            source="guardstream-synthetic-heldout",
        )
    )


def train_fast(config: TrainConfig, data: RunData, folder: Path, observer: StepObserver | None) -> TrainedCandidate:
    import torch

    from guardstream.guard.checkpoint import parse_device, parse_dtype
    from guardstream.guard.fast_guard import PairEncoder, save_fast_guard
    from training.embedded_fast_guard import PROFILES, hardening_copies
    from training.fast_guard import fit_mix, freeze_lower, train_fast_stage, train_lexical

    fast = config.fast
    torch.manual_seed(config.seed)
    network, tokenizer, contract, start = starting_point(config)
    own = _real(data)
    copies = hardening_copies(own, PROFILES["full"], config.seed)
    logger.info("fast guard candidate starts from %s", start)
    freeze_lower(network, fast.frozen_layers)
    network.to(device=parse_device(fast.device), dtype=parse_dtype(fast.dtype))
    encoder = PairEncoder(tokenizer, contract.max_input_tokens)
    stages: list[dict[str, Any]] = []
    for number, (records, stage) in enumerate(
        ((data.stage1, fast.stage1), ([*data.stage2, *copies], fast.stage2)), start=1
    ):
        if not records or (stage.epochs <= 0 and stage.max_steps <= 0):
            logger.info("fast stage %d skipped (records=%d)", number, len(records))
            continue
        result = train_fast_stage(
            f"fast stage {number}", network, encoder, records, stage, seed=config.seed + number, observer=observer
        )
        stages.append(
            {
                "stage": f"stage{number}",
                "steps": result.steps,
                "resumed_from": None,
                "seconds": round(result.seconds, 1),
                "final_loss": result.final_loss,
                "examples": result.examples,
            }
        )
    if network.lexical is not None:
        started = time.perf_counter()
        items = [*data.stage1, *own, *copies]
        loss = train_lexical(network.lexical, items, epochs=fast.lexical_epochs, seed=config.seed)
        mix = fit_mix(network, encoder, _mix_set(config, data))
        stages.append(
            {
                "stage": "lexical",
                "steps": fast.lexical_epochs,
                "resumed_from": None,
                "seconds": round(time.perf_counter() - started, 1),
                "final_loss": round(loss, 4),
                "examples": len(items),
                "mix": mix,
            }
        )
    checkpoint = folder / "candidate"
    save_fast_guard(network, tokenizer, contract, checkpoint)
    (checkpoint / "training.json").write_text(
        json.dumps(
            {"start": start, "fast": fast.model_dump(mode="json"), "stages": stages}, indent=2, ensure_ascii=False
        )
        + "\n",
        encoding="utf-8",
    )
    return TrainedCandidate(checkpoint, stages)


def fast_judge(config: TrainConfig, checkpoint: Path, label: str) -> Judge:
    from guardstream.guard.fast_guard import FastGuardScorer

    fast = config.fast
    scorer = FastGuardScorer(checkpoint, device=fast.device, dtype=fast.dtype, max_batch_size=fast.eval_batch_size)
    return Judge(label, scorer=scorer, unsafe=threshold_answer(config), batch_size=fast.eval_batch_size)


def threshold_answer(config: TrainConfig) -> Callable[[float], bool]:
    """The fast guard's answer for a p_unsafe: unsafe at or above ``fast.threshold``."""
    threshold = config.fast.threshold

    def unsafe(p_unsafe: float) -> bool:
        return p_unsafe >= threshold

    return unsafe
