"""Settings of the Triton guard model, read from its ``config.pbtxt`` ``parameters``.

Kept apart from the Triton glue so it can be tested without a Triton server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardstream.errors import ConfigurationError

# The model's tensors: the one definition the Triton backends and the workers' client both import.
INPUT_QUESTION = "QUESTION"
INPUT_RESPONSE = "RESPONSE"
OUTPUT_P_UNSAFE = "P_UNSAFE"
OUTPUT_VERDICT_JSON = "VERDICT_JSON"
OUTPUT_CATEGORY = "CATEGORY"
OUTPUT_CATEGORY_SCORE = "CATEGORY_SCORE"
# The stream models' (guardstream.guard.stream_backend): the sequence batcher's controls (the stream
# id is the request's correlation id), a chunk of the reply with its place in it, and whether the
# model needs the reply so far to rebuild the stream.
CONTROL_START = "START"
CONTROL_END = "END"
INPUT_DELTA = "DELTA"
INPUT_PREFIX_CHARS = "PREFIX_CHARS"
INPUT_TEXT = "TEXT"
OUTPUT_NEEDS_TEXT = "NEEDS_TEXT"
OUTPUT_STREAM_CHARS = "STREAM_CHARS"
STREAM_MODES = ("stream_fast", "stream_generative")
MODES = ("score", "explain", "fast", *STREAM_MODES)


@dataclass(frozen=True)
class BackendSettings:
    """What the Triton model needs to build its :class:`~guardstream.guard.scoring.GuardScorer`."""

    checkpoint_path: Path
    mode: str = "score"
    device: str = "cpu"
    dtype: str = "float32"
    torch_threads: int | None = None
    max_input_tokens: int = 512
    max_batch_size: int = 64
    max_new_tokens: int = 96
    max_streams: int = 1024
    """Stream modes: most streams whose state is held (the least recently used is evicted)."""
    idle_timeout_s: float = 600.0
    """Stream modes: a stream idle longer loses its state (its client rebuilds it from the text)."""
    max_state_bytes: int | None = None
    """Stream modes: most bytes of state held in all; None bounds by count and idle time only."""
    window_chars: int | None = None
    """Mode stream_fast: the reply's last characters each chunk is scored on; None: the scorer's default."""


def _parameter(model_config: dict[str, Any], name: str) -> str | None:
    entry = model_config.get("parameters", {}).get(name)
    if entry is None:
        return None
    value = entry.get("string_value") if isinstance(entry, dict) else entry
    if value is None or str(value).strip() == "":
        return None
    return str(value).strip()


def _positive_int(model_config: dict[str, Any], name: str, default: int | None) -> int | None:
    raw = _parameter(model_config, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"parameter {name} must be an integer, got {raw!r}") from None
    if value < 1:
        raise ConfigurationError(f"parameter {name} must be at least 1, got {value}")
    return value


def _positive_float(model_config: dict[str, Any], name: str, default: float) -> float:
    raw = _parameter(model_config, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"parameter {name} must be a number, got {raw!r}") from None
    if not value > 0:
        raise ConfigurationError(f"parameter {name} must be above 0, got {value}")
    return value


def settings_from_model_config(model_config: dict[str, Any], version_dir: Path) -> BackendSettings:
    """Parse the model config.

    A relative ``checkpoint_path`` resolves against ``version_dir``; ``{version}`` in it stands for
    the version number, so the explain model can read the score model's weights of the same
    version (``../../guard/{version}/checkpoint``) instead of a copy.
    """
    raw_path = _parameter(model_config, "checkpoint_path")
    if raw_path is None:
        raise ConfigurationError("config.pbtxt parameter checkpoint_path is missing")
    mode = _parameter(model_config, "mode") or "score"
    if mode not in MODES:
        raise ConfigurationError(f"parameter mode must be one of {', '.join(MODES)}, got {mode!r}")
    checkpoint = Path(raw_path.replace("{version}", version_dir.name)).expanduser()
    if not checkpoint.is_absolute():
        checkpoint = version_dir / checkpoint
    max_batch = int(model_config.get("max_batch_size", 0) or 0)
    return BackendSettings(
        checkpoint_path=checkpoint,
        mode=mode,
        device=_parameter(model_config, "device") or "cpu",
        dtype=_parameter(model_config, "dtype") or "float32",
        torch_threads=_positive_int(model_config, "torch_threads", None),
        max_input_tokens=_positive_int(model_config, "max_input_tokens", 512) or 512,
        max_batch_size=max(max_batch, 1),
        max_new_tokens=_positive_int(model_config, "max_new_tokens", 96) or 96,
        max_streams=_positive_int(model_config, "max_streams", 1024) or 1024,
        idle_timeout_s=_positive_float(model_config, "idle_timeout_s", 600.0),
        max_state_bytes=_positive_int(model_config, "max_state_bytes", None),
        window_chars=_positive_int(model_config, "window_chars", None),
    )


def instance_device(device: str, args: dict[str, str]) -> str:
    """The torch device of one model instance: ``cuda`` names the GPU Triton placed the instance on
    (``KIND_GPU`` with several ``gpus`` gives each its own); any other device is kept as configured."""
    if device == "cuda" and args.get("model_instance_kind") == "GPU":
        return f"cuda:{int(args.get('model_instance_device_id') or 0)}"
    return device


def output_data_type(model_config: dict[str, Any], name: str) -> str:
    """The ``data_type`` string (``TYPE_FP32`` …) the config declares for output ``name``."""
    for output in model_config.get("output", []):
        if output.get("name") == name:
            return str(output["data_type"])
    raise ConfigurationError(f"config.pbtxt declares no output named {name}")
