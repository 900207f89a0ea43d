"""The generative guard's candidate: a causal LM fine-tuned in two stages to answer in Libra-Guard's
JSON, trained resumably (``<folder>/state/<stage>/``) and exported to ``<folder>/candidate/``."""

from __future__ import annotations

import logging
from pathlib import Path

from training.config import TrainConfig
from training.datasets import RunData
from training.judges import Judge, TrainedCandidate
from training.publish import checkpoint_of, serving_version
from training.trainer.loop import StepObserver

logger = logging.getLogger(__name__)


def resolve_base(config: TrainConfig) -> TrainConfig:
    """The configuration with ``model.base: serving`` replaced by the served version's checkpoint folder."""
    if config.model.base != "serving":
        return config
    repository = Path(config.repository)
    serving = serving_version(repository, config.model_name)
    if serving is None:
        raise RuntimeError(f"model.base=serving, but {repository / config.model_name} has no version with a checkpoint")
    base = str(checkpoint_of(repository, config.model_name, serving))
    return config.model_copy(update={"model": config.model.model_copy(update={"base": base})})


def train_generative(
    config: TrainConfig, data: RunData, folder: Path, observer: StepObserver | None
) -> TrainedCandidate:
    import torch

    from training.trainer.encoding import ExampleEncoder
    from training.trainer.loop import train_stage
    from training.trainer.model_setup import export_model, prepare_model

    torch.manual_seed(config.seed)
    prepared = prepare_model(config.model)
    encoder = ExampleEncoder(prepared.tokenizer, config.model.max_length, config.stage1.answer_weight)
    pad_id = prepared.tokenizer.pad_token_id
    stages = []
    for name, records, stage in (("stage1", data.stage1, config.stage1), ("stage2", data.stage2, config.stage2)):
        if stage.steps <= 0 or not records:
            logger.info("%s skipped (steps=%d, records=%d)", name, stage.steps, len(records))
            continue
        encoder.answer_weight = stage.answer_weight
        examples = [encoder.encode(r) for r in records]
        result = train_stage(
            name,
            prepared.model,
            examples,
            stage,
            pad_id=pad_id,
            seed=config.seed,
            device=prepared.device,
            state_dir=folder / "state" / name,
            observer=observer,
        )
        stages.append(
            {
                "stage": result.stage,
                "steps": result.steps,
                "resumed_from": result.resumed_from,
                "seconds": round(result.seconds, 1),
                "final_loss": result.final_loss,
            }
        )
    checkpoint = export_model(prepared, folder / "candidate")
    return TrainedCandidate(checkpoint, stages)


def generative_judge(config: TrainConfig, checkpoint: Path, label: str) -> Judge:
    from guardstream.guard.explaining import GuardExplainer
    from guardstream.guard.scoring import GuardScorer

    model, batch = config.model, config.gate.eval_batch_size
    return Judge(
        label,
        explainer=GuardExplainer(checkpoint, device=model.device, dtype=model.dtype, max_batch_size=batch),
        scorer=GuardScorer(checkpoint, device=model.device, dtype=model.dtype),
        batch_size=batch,
    )
