"""The training job's configuration: one pydantic model per concern, from a file, overridable.

A YAML or JSON file gives any subset of the fields; ``key.sub=value`` overrides (from the command
line) are applied on top, with the value parsed as YAML (``stage1.steps=20``,
``model.device=cuda``, ``data.real_files=[a.json,b.jsonl]``). Everything is typed, frozen and
validated when the job starts: an unknown key or a value that does not fit is a
:class:`ConfigError` that names the setting (``stage1.steps``).

``guards`` says which models a run trains: ``both`` (the default: the cascade that is served is
the two of them, and each is gated and published on its own), ``fast`` or ``generative``. The
generative guard's settings are the top-level ``model``, ``stage1`` and ``stage2``; the fast
guard's live under ``fast``. Both train on the same assembled data (``data``) and are judged on
the same gold set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from guardstream.errors import ConfigurationError

GUARDS = ("both", "fast", "generative")

DEVICE_PATTERN = r"^(cpu|auto|cuda(:\d+)?)$"
"""``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (the GPU when there is one)."""
Dtype = Literal["float32", "bfloat16", "float16"]


class ConfigError(ConfigurationError, ValueError):
    """A configuration key or value that does not fit; the message names it."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


def _one_or_many(value: Any) -> Any:
    """A single file or module name where a list is expected (``data.real_files=a.jsonl``)."""
    return [value] if isinstance(value, str) else value


class ModelConfig(_Section):
    """The base model and how it is trained."""

    base: str = ""
    """A local Hugging Face checkpoint folder, or ``serving`` (the served version's checkpoint); empty:
    build the tokenizer and tiny model from scratch."""
    method: Literal["auto", "full", "lora"] = "auto"
    """``auto``: LoRA when the base has more than ``lora_above_params`` parameters, else full."""
    lora_above_params: int = Field(default=300_000_000, ge=0)
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    lora_target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        min_length=1,
    )
    device: str = Field(default="cpu", pattern=DEVICE_PATTERN)
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto``."""
    dtype: Dtype = "float32"
    max_length: int = Field(default=512, ge=1)
    threads: int = Field(default=2, ge=0)
    """CPU threads torch may use (0: torch's default)."""
    scratch_seed: int = 0
    """Seed of the initial weights when training from scratch."""

    _lists = field_validator("lora_target_modules", mode="before")(_one_or_many)


class DataConfig(_Section):
    """Where stage 1 and stage 2 data come from, and how they are split."""

    synthetic_count: int = Field(default=6000, ge=0)
    synthetic_seed: int = 1
    heldout_count: int = Field(default=400, ge=0)
    heldout_seed: int = 1001
    real_files: list[str] = Field(default_factory=list)
    """Libra-Test-format files (JSON, JSONL, Parquet) of curated real data for stage 2."""
    feedback_file: str = ""
    """A Libra-Test-format export of human labels (used besides the audit store)."""
    use_review_store: bool = True
    """Read human labels from the audit store's review tables."""
    gold_file: str = ""
    """The gold set of the quality gate; empty: the test split of real data plus the synthetic held-out set."""
    dev_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    test_fraction: float = Field(default=0.2, ge=0.0, lt=1.0)
    split_seed: int = 0

    _lists = field_validator("real_files", mode="before")(_one_or_many)

    @model_validator(mode="after")
    def _split_leaves_training_data(self) -> DataConfig:
        if self.dev_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"dev_fraction + test_fraction must be below 1, got {self.dev_fraction} + {self.test_fraction}"
            )
        return self


class StageConfig(_Section):
    """One training stage."""

    steps: int = Field(default=600, ge=0)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=2e-3, gt=0.0)
    warmup_steps: int = Field(default=30, ge=0)
    min_lr_ratio: float = Field(default=0.05, ge=0.0, le=1.0)
    weight_decay: float = Field(default=0.01, ge=0.0)
    grad_clip: float = Field(default=1.0, ge=0.0)
    """Largest gradient norm (0: no clipping)."""
    answer_weight: float = Field(default=4.0, gt=0.0)
    """Loss weight of the answer word's tokens (the decision) relative to the rest of the JSON."""
    replay_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    """Stage 2: share of each stage-2 set drawn from stage-1 data, against forgetting."""
    checkpoint_every: int = Field(default=100, ge=0)


# A (pydantic) dataclass rather than a model: the default fast guard's build manifest records its
# stages with dataclasses.asdict (training/embedded_fast_guard.py).
@pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid", use_attribute_docstrings=True))
class FastStageConfig:
    """One stage of the fast guard's fine-tuning."""

    epochs: float = Field(default=1.0, ge=0.0)
    """Passes over the stage's data (fractions allowed); ``max_steps`` caps it when set."""
    max_steps: int = Field(default=0, ge=0)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=8e-5, gt=0.0)
    head_learning_rate: float = Field(default=1e-3, gt=0.0)
    warmup_fraction: float = Field(default=0.06, ge=0.0, le=1.0)
    weight_decay: float = Field(default=0.01, ge=0.0)
    category_weight: float = Field(default=0.5, ge=0.0)


class FastConfig(_Section):
    """The fast guard (the cascade's first stage): where it starts and how it is trained."""

    model_name: str = Field(default="guard_fast", min_length=1)
    """Its model in the Triton repository."""
    base: str = Field(default="serving", min_length=1)
    """``serving``: continue from the checkpoint served now (the default: a periodic run adds the new
    human labels to what the served model learnt, which was trained on more real data than a run
    usually has), or from the pretrained encoder when nothing is served; ``pretrained``: a fresh
    fast guard on bge-small-zh-v1.5 (fetched and cached like ``make model`` does); otherwise a
    local Hugging Face encoder checkpoint folder (BERT, RoBERTa, XLM-R, ...)."""
    pretrained_cache: str = ".cache/pretrained"
    """Where the pretrained encoder is fetched and converted to (``base: pretrained``)."""
    device: str = Field(default="cpu", pattern=DEVICE_PATTERN)
    dtype: Dtype = "float32"
    max_input_tokens: int = Field(default=256, ge=1)
    """For a fresh fast guard; one continued from a checkpoint keeps the checkpoint's."""
    frozen_layers: int = Field(default=2, ge=0)
    """Lower encoder layers kept as they start (the word embeddings always are)."""
    lexical: bool = True
    """A fresh fast guard gets the lexical head over character n-grams (a continued one keeps what it has)."""
    lexical_epochs: int = Field(default=2, ge=0)
    stage1: FastStageConfig = Field(default_factory=lambda: FastStageConfig(epochs=1.0))
    stage2: FastStageConfig = Field(default_factory=lambda: FastStageConfig(epochs=1.0, max_steps=250))
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """p_unsafe at or above it counts as an unsafe answer when the gate compares candidate and serving."""
    eval_batch_size: int = Field(default=64, ge=1)


class GateConfig(_Section):
    """When a candidate is published."""

    metric: Literal["accuracy", "f1_safe", "f1_unsafe"] = "accuracy"
    min_improvement: float = 0.0
    """The candidate's average must beat the serving model's by more than this."""
    max_unparseable_fraction: float = Field(default=0.05, ge=0.0, le=1.0)
    eval_batch_size: int = Field(default=16, ge=1)


class ScheduleConfig(_Section):
    """When ``guardstream train --schedule`` starts a run."""

    min_new_labels: int = Field(default=50, ge=0)
    max_interval_hours: float = Field(default=24.0, gt=0.0)


class TrainConfig(_Section):
    seed: int = 0
    runs_dir: str = ".run/training"
    repository: str = "triton_models"
    guards: Literal["both", "fast", "generative"] = "both"
    model_name: str = Field(default="guard", min_length=1)
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    stage1: StageConfig = Field(default_factory=StageConfig)
    stage2: StageConfig = Field(
        default_factory=lambda: StageConfig(steps=200, learning_rate=5e-4, warmup_steps=10, replay_fraction=0.3)
    )
    fast: FastConfig = Field(default_factory=FastConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)

    def trains(self, guard: str) -> bool:
        """Whether this run trains ``guard`` (``fast`` or ``generative``)."""
        return self.guards in (guard, "both")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """The configuration from ``path`` (YAML or JSON; optional) with ``key=value`` overrides."""
    values: dict[str, Any] = {}
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
            loaded = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read training settings: {exc}") from None
        values = loaded or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping at the top")
    for item in overrides or []:
        _apply_override(values, item)
    try:
        return TrainConfig.model_validate(_over(TrainConfig().to_dict(), values))
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None


def _over(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` laid over ``defaults`` section by section: a section given in part keeps the job's
    defaults for the rest (``stage2.steps=300`` keeps stage 2's replay and learning rate, which are not
    the defaults of a stage in general)."""
    merged = dict(defaults)
    for key, value in given.items():
        default = defaults.get(key)
        merged[key] = _over(default, value) if isinstance(default, dict) and isinstance(value, dict) else value
    return merged


def _apply_override(values: dict[str, Any], item: str) -> None:
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not key=value")
    key, raw = item.split("=", 1)
    target = values
    parts = key.strip().split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
    try:
        target[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: the value is not YAML: {exc}") from None


def _problems(error: ValidationError) -> str:
    """One line per problem, each naming its setting; an unknown key lists the section's known ones."""
    lines = []
    for problem in error.errors():
        dotted = ".".join(str(part) for part in problem["loc"])
        if problem["type"] in ("extra_forbidden", "unexpected_keyword_argument"):  # a model's, a dataclass's
            known = ", ".join(sorted(_section_fields(problem["loc"][:-1])))
            lines.append(f"unknown setting {dotted!r}; known: {known}")
        else:
            given = problem["input"]
            got = "" if isinstance(given, dict) else f" (given: {given!r})"
            lines.append(f"{dotted or 'config'}: {problem['msg']}{got}")
    if len(lines) == 1:
        return lines[0]
    return "invalid training settings:\n" + "\n".join(f"  {line}" for line in lines)


def _section_fields(location: tuple[int | str, ...]) -> list[str]:
    """The field names of the section at ``location`` (a model or a pydantic dataclass)."""
    section: Any = TrainConfig
    for part in location:
        field = getattr(section, "__pydantic_fields__", {}).get(part)
        if field is None:
            return []
        section = field.annotation
    return list(getattr(section, "__pydantic_fields__", {}))
