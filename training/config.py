"""The training job's configuration: one dataclass per concern, from a file, overridable.

A YAML or JSON file gives any subset of the fields; ``key.sub=value`` overrides (from the command
line) are applied on top, with the value parsed as YAML (``stage1.steps=20``,
``model.device=cuda``, ``data.real_files=[a.json,b.jsonl]``). Unknown keys are errors that name
the key.

``guards`` says which models a run trains: ``both`` (the default: the cascade that is served is
the two of them, and each is gated and published on its own), ``fast`` or ``generative``. The
generative guard's settings are the top-level ``model``, ``stage1`` and ``stage2``; the fast
guard's live under ``fast``. Both train on the same assembled data (``data``) and are judged on
the same gold set.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


@dataclass
class ModelConfig:
    """The base model and how it is trained."""

    base: str = ""
    """A local Hugging Face checkpoint folder; empty: build the tokenizer and tiny model from scratch."""
    method: Literal["auto", "full", "lora"] = "auto"
    """``auto``: LoRA when the base has more than ``lora_above_params`` parameters, else full."""
    lora_above_params: int = 300_000_000
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    device: str = "cpu"
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto``."""
    dtype: str = "float32"
    max_length: int = 512
    threads: int = 2
    """CPU threads torch may use (0: torch's default)."""
    scratch_seed: int = 0
    """Seed of the initial weights when training from scratch."""


@dataclass
class DataConfig:
    """Where stage 1 and stage 2 data come from, and how they are split."""

    synthetic_count: int = 6000
    synthetic_seed: int = 1
    heldout_count: int = 400
    heldout_seed: int = 1001
    real_files: list[str] = field(default_factory=list)
    """Libra-Test-format files (JSON, JSONL, Parquet) of curated real data for stage 2."""
    feedback_file: str = ""
    """A Libra-Test-format export of human labels (used besides the audit store)."""
    use_review_store: bool = True
    """Read human labels from the audit store's review tables."""
    gold_file: str = ""
    """The gold set of the quality gate; empty: the test split of real data plus the synthetic held-out set."""
    dev_fraction: float = 0.1
    test_fraction: float = 0.2
    split_seed: int = 0


@dataclass
class StageConfig:
    """One training stage."""

    steps: int = 600
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_steps: int = 30
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    answer_weight: float = 4.0
    """Loss weight of the answer word's tokens (the decision) relative to the rest of the JSON."""
    replay_fraction: float = 0.0
    """Stage 2: share of each stage-2 set drawn from stage-1 data, against forgetting."""
    checkpoint_every: int = 100


@dataclass(frozen=True)
class FastStageConfig:
    """One stage of the fast guard's fine-tuning."""

    epochs: float = 1.0
    """Passes over the stage's data (fractions allowed); ``max_steps`` caps it when set."""
    max_steps: int = 0
    batch_size: int = 32
    learning_rate: float = 8e-5
    head_learning_rate: float = 1e-3
    warmup_fraction: float = 0.06
    weight_decay: float = 0.01
    category_weight: float = 0.5


@dataclass
class FastConfig:
    """The fast guard (the cascade's first stage): where it starts and how it is trained."""

    model_name: str = "guard_fast"
    """Its model in the Triton repository."""
    base: str = "serving"
    """``serving``: continue from the checkpoint served now (the default: a periodic run adds the new
    human labels to what the served model learnt, which was trained on more real data than a run
    usually has), or from the pretrained encoder when nothing is served; ``pretrained``: a fresh
    fast guard on bge-small-zh-v1.5 (fetched and cached like ``make model`` does); otherwise a
    local Hugging Face encoder checkpoint folder (BERT, RoBERTa, XLM-R, ...)."""
    pretrained_cache: str = ".cache/pretrained"
    """Where the pretrained encoder is fetched and converted to (``base: pretrained``)."""
    device: str = "cpu"
    dtype: str = "float32"
    max_input_tokens: int = 256
    """For a fresh fast guard; one continued from a checkpoint keeps the checkpoint's."""
    frozen_layers: int = 2
    """Lower encoder layers kept as they start (the word embeddings always are)."""
    lexical: bool = True
    """A fresh fast guard gets the lexical head over character n-grams (a continued one keeps what it has)."""
    lexical_epochs: int = 2
    stage1: FastStageConfig = field(default_factory=lambda: FastStageConfig(epochs=1.0))
    stage2: FastStageConfig = field(default_factory=lambda: FastStageConfig(epochs=1.0, max_steps=250))
    threshold: float = 0.5
    """p_unsafe at or above it counts as an unsafe answer when the gate compares candidate and serving."""
    eval_batch_size: int = 64


@dataclass
class GateConfig:
    """When a candidate is published."""

    metric: Literal["accuracy", "f1_safe", "f1_unsafe"] = "accuracy"
    min_improvement: float = 0.0
    """The candidate's average must beat the serving model's by more than this."""
    max_unparseable_fraction: float = 0.05
    eval_batch_size: int = 16


@dataclass
class ScheduleConfig:
    """When ``guardstream train --schedule`` starts a run."""

    min_new_labels: int = 50
    max_interval_hours: float = 24.0


@dataclass
class TrainConfig:
    seed: int = 0
    runs_dir: str = ".run/training"
    repository: str = "triton_models"
    guards: Literal["both", "fast", "generative"] = "both"
    model_name: str = "guard"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    stage1: StageConfig = field(default_factory=StageConfig)
    stage2: StageConfig = field(
        default_factory=lambda: StageConfig(steps=200, learning_rate=5e-4, warmup_steps=10, replay_fraction=0.3)
    )
    fast: FastConfig = field(default_factory=FastConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def __post_init__(self) -> None:
        if self.guards not in GUARDS:
            raise ConfigError(f"guards: expected one of {', '.join(GUARDS)}, got {self.guards!r}")

    def trains(self, guard: str) -> bool:
        """Whether this run trains ``guard`` (``fast`` or ``generative``)."""
        return self.guards in (guard, "both")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


GUARDS = ("both", "fast", "generative")


class ConfigError(ValueError):
    """A configuration key or value that does not fit; the message names it."""


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"unknown setting {where + key!r}; known: {', '.join(sorted(fields))}")
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            kwargs[key] = _build(type(default), value, f"{where}{key}.")
        else:
            kwargs[key] = _coerce(value, default, where + key)
    return cls(**kwargs)


def _coerce(value: Any, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, list) and isinstance(value, str):
        return [value]
    if default is not None and not isinstance(value, type(default)):
        raise ConfigError(f"{name}: expected {type(default).__name__}, got {value!r}")
    return value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """The configuration from ``path`` (YAML or JSON; optional) with ``key=value`` overrides."""
    values: dict[str, Any] = {}
    if path:
        text = Path(path).read_text(encoding="utf-8")
        loaded = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        values = loaded or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping at the top")
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
        key, raw = item.split("=", 1)
        target = values
        parts = key.strip().split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        target[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    return _build(TrainConfig, values, "")
