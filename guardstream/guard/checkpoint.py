"""Loading a guard checkpoint from local disk: any Hugging Face causal LM, or a LoRA adapter.

A folder with ``config.json`` is a full checkpoint. A folder with ``adapter_config.json`` is a
peft LoRA adapter: its base model is read from ``base_model_name_or_path`` (a local path, or a
path relative to the adapter folder), the adapter is applied and merged for inference. Nothing
is ever downloaded. Device and dtype come from configuration (CPU/float32 here, GPU/bfloat16 in
production).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from guardstream.errors import ConfigurationError

logger = logging.getLogger(__name__)

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
ADAPTER_CONFIG = "adapter_config.json"
CONTRACT_FILE = "guard_contract.json"
"""Written by the training job beside the weights: what the model was taught to answer."""
GENERIC_TOKENIZER_CLASSES = frozenset({"TokenizersBackend", "PreTrainedTokenizerFast"})
"""Declared by a checkpoint whose ``tokenizer.json`` is the whole tokenizer (the default guard's own)."""


@dataclass(frozen=True)
class LoadedCheckpoint:
    tokenizer: Any
    model: Any
    device: torch.device
    path: Path


def parse_dtype(name: str) -> torch.dtype:
    """The torch dtype for a config string (``float32``, ``bfloat16``, ``float16``)."""
    try:
        return _DTYPES[name]
    except KeyError:
        raise ConfigurationError(f"unsupported dtype {name!r}; use one of {', '.join(_DTYPES)}") from None


def parse_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (the GPU when there is one)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigurationError(f"invalid device {name!r}: {exc}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(f"device {name!r} asked for, but torch sees no CUDA device")
    return device


def load_tokenizer(folder: str | Path) -> Any:
    """The tokenizer a checkpoint folder was saved with, tokenizing exactly as it did.

    ``AutoTokenizer`` picks the class by the model type, and for some types (``qwen2`` among them)
    overrides the class the folder declares: a Qwen2 tokenizer then rebuilds its own pre-tokenizer
    around the saved vocabulary and merges. A tokenizer trained here (the default guard's, with its
    own whitespace handling) would then split text unlike in training, and the model would read
    tokens it never saw. A folder that declares the generic class is loaded as its ``tokenizer.json``
    says; any other goes through ``AutoTokenizer``."""
    path = Path(folder)
    try:
        declared = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8")).get("tokenizer_class")
    except (OSError, ValueError):
        declared = None
    if declared in GENERIC_TOKENIZER_CLASSES and (path / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(path, local_files_only=True)
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def load_checkpoint(checkpoint: str | Path, *, device: str = "cpu", dtype: str = "float32") -> LoadedCheckpoint:
    """Tokenizer and model in eval mode on ``device``; a clear error names what is missing."""
    path = Path(checkpoint)
    torch_device, torch_dtype = parse_device(device), parse_dtype(dtype)
    try:
        if (path / ADAPTER_CONFIG).is_file():
            tokenizer, model = _load_adapter(path, torch_dtype)
        elif (path / "config.json").is_file():
            tokenizer = load_tokenizer(path)
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch_dtype)
        else:
            raise ConfigurationError(
                f"no Hugging Face checkpoint at {path} (neither config.json nor {ADAPTER_CONFIG}); build the "
                "default one with `guardstream model build-default` or point checkpoint_path at one"
            )
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot load the guard checkpoint at {path}: {exc}") from exc
    return LoadedCheckpoint(tokenizer, model.to(torch_device).eval(), torch_device, path)


def _load_adapter(path: Path, torch_dtype: torch.dtype) -> tuple[Any, Any]:
    from peft import PeftModel

    adapter = json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    base_name = adapter.get("base_model_name_or_path")
    if not base_name:
        raise ConfigurationError(f"{path / ADAPTER_CONFIG} names no base_model_name_or_path")
    base = Path(base_name).expanduser()
    if not base.is_absolute():
        base = (path / base).resolve()
    if not (base / "config.json").is_file():
        raise ConfigurationError(f"LoRA adapter at {path} needs its base checkpoint on local disk; not found: {base}")
    tokenizer_source = path if (path / "tokenizer_config.json").is_file() else base
    tokenizer = load_tokenizer(tokenizer_source)
    model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True, dtype=torch_dtype)
    merged = PeftModel.from_pretrained(model, path, is_trainable=False).merge_and_unload()
    logger.info("LoRA adapter merged adapter=%s base=%s", path, base)
    return tokenizer, merged


def names_categories(checkpoint: str | Path) -> bool:
    """True when the checkpoint was trained to name the harm category after an unsafe answer."""
    contract = Path(checkpoint) / CONTRACT_FILE
    if not contract.is_file():
        return False
    try:
        return bool(json.loads(contract.read_text(encoding="utf-8")).get("names_categories", False))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"unreadable {contract}: {exc}") from exc


def write_contract(checkpoint: str | Path, *, names_categories: bool) -> None:
    """Record what a trained checkpoint answers (the training job calls this after export)."""
    (Path(checkpoint) / CONTRACT_FILE).write_text(
        json.dumps({"names_categories": names_categories}, indent=2) + "\n", encoding="utf-8"
    )


def pad_token_id(tokenizer: object) -> int:
    for attr in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, attr, None)
        if isinstance(value, int):
            return value
    return 0
