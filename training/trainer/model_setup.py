"""The model a run trains, and how a trained model is exported.

* No base: the tokenizer and the tiny Qwen2 of :mod:`training.default_model` are built on the
  spot (training from scratch).
* A base checkpoint on local disk (never downloaded): its own tokenizer and weights. Full
  fine-tuning for small bases; LoRA (peft) for bases above ``lora_above_params`` parameters or
  when asked. A LoRA run exports the adapter, which names its base by absolute path, so
  :func:`guardstream.guard.checkpoint.load_checkpoint` merges it at load time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from guardstream.errors import ConfigurationError
from guardstream.guard.checkpoint import parse_device, parse_dtype, write_contract
from training.config import ModelConfig

logger = logging.getLogger(__name__)


@dataclass
class PreparedModel:
    model: Any
    tokenizer: Any
    method: str  # "scratch", "full" or "lora"
    device: torch.device
    base: Path | None
    parameters: int
    trainable: int


def prepare_model(config: ModelConfig) -> PreparedModel:
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    device = parse_device(config.device)
    dtype = parse_dtype(config.dtype)
    if not config.base:
        from training.default_model import DefaultModelSpec, init_model, train_tokenizer

        spec = replace(DefaultModelSpec(), seed=config.scratch_seed)
        tokenizer = train_tokenizer(spec)
        model = init_model(spec, tokenizer).to(device=device, dtype=dtype)
        method, base = "scratch", None
    else:
        from transformers import AutoModelForCausalLM

        from guardstream.guard.checkpoint import load_tokenizer

        base = Path(config.base).expanduser().resolve()
        if not (base / "config.json").is_file():
            raise ConfigurationError(
                f"model.base={config.base}: no Hugging Face checkpoint there (config.json missing)"
            )
        tokenizer = load_tokenizer(base)
        model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True, dtype=dtype).to(device)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        count = sum(p.numel() for p in model.parameters())
        use_lora = config.method == "lora" or (config.method == "auto" and count > config.lora_above_params)
        method = "lora" if use_lora else "full"
        if use_lora:
            model = _with_lora(model, config)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info("model prepared method=%s parameters=%d trainable=%d device=%s", method, total, trainable, device)
    return PreparedModel(model, tokenizer, method, device, base, total, trainable)


def _with_lora(model: Any, config: ModelConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in config.lora_target_modules if t in present]
    if not targets:
        raise ConfigurationError(
            f"model.lora_target_modules {config.lora_target_modules} match no module of the base model"
        )
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def export_model(prepared: PreparedModel, out_dir: Path) -> Path:
    """Write a loadable checkpoint (full weights, or a LoRA adapter naming its base)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model = prepared.model
    if prepared.method == "lora":
        model.peft_config["default"].base_model_name_or_path = str(prepared.base)
        model.save_pretrained(out_dir)
    else:
        model.save_pretrained(out_dir)
        generation = getattr(model, "generation_config", None)
        if generation is not None:
            generation.save_pretrained(out_dir)
    prepared.tokenizer.save_pretrained(out_dir)
    write_contract(out_dir, names_categories=True)  # the target names the scenario of unsafe answers
    return out_dir
