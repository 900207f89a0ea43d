"""The Triton model repository rendered for where it is served: CPU or GPU.

The sources are ``triton_models/*/config.pbtxt`` and ``*/1/model.py`` (package data:
``guardstream/triton_models``). They are written for the CPU, which is what the dev stack serves them as.
Rendering for ``cuda`` puts every model that runs a network (those whose config has a ``device``
parameter) on the GPUs: instance kind ``KIND_GPU`` with the given ``gpus`` and the ``device`` parameter
``cuda`` (each instance then runs on its own GPU: :func:`guardstream.guard.backend_settings.instance_device`);
a model without one (the constant guard) stays on the CPU; a stream model (``sequence_batching``), whose
streams' state lives in its one instance, gets the first GPU only. Everything else in a config is copied as is.

Settings: ``GUARDSTREAM_SERVING__<FIELD>`` environment variables (:class:`ServingSettings`); the
production default is the GPU.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from guardstream.errors import ConfigurationError

ENV_PREFIX = "GUARDSTREAM_SERVING__"
CONFIG_FILE = "config.pbtxt"
ENTRY_POINT = "model.py"

_KIND = re.compile(r"^(?P<indent>[ \t]*)kind: KIND_CPU[ \t]*$", re.MULTILINE)
_PARAMETER = r'^parameters: \{{ key: "{key}" value: \{{ string_value: "(?P<value>[^"]*)" \}} \}}[ \t]*$'


class ServingSettings(BaseSettings):
    """Where Triton runs the guard models."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    device: Literal["cpu", "cuda"] = Field(
        default="cuda", description="cuda: the network models run on the GPUs (production); cpu: the dev stack's."
    )
    gpus: tuple[int, ...] = Field(
        default=(0,), min_length=1, description="The GPUs each network model gets one instance on (device cuda)."
    )
    dtype: Literal["float32", "bfloat16", "float16"] | None = Field(
        default=None, description="The networks' dtype; unset: each config's own (float32)."
    )


def load_serving_settings(**overrides: object) -> ServingSettings:
    try:
        return ServingSettings(**overrides)  # type: ignore[arg-type]  # checked by pydantic: the point of the call
    except ValidationError as exc:
        raise ConfigurationError(f"serving settings ({ENV_PREFIX}*): {exc}") from None


def source_repository() -> Path:
    """The model repository's sources as installed (in a checkout: the repository's ``triton_models/``)."""
    return Path(str(files("guardstream") / "triton_models"))


def _parameter(text: str, key: str) -> re.Match[str] | None:
    return re.search(_PARAMETER.format(key=re.escape(key)), text, re.MULTILINE)


def _set_parameter(text: str, key: str, value: str) -> str:
    found = _parameter(text, key)
    if found is None:
        raise ConfigurationError(f"no parameter {key!r} to set")
    return text[: found.start("value")] + value + text[found.end("value") :]


def render_config(text: str, serving: ServingSettings) -> str:
    """One model's ``config.pbtxt`` (as written for the CPU) for ``serving``."""
    if _parameter(text, "device") is None:
        return text  # no network: nothing to place
    if serving.dtype is not None:
        text = _set_parameter(text, "dtype", serving.dtype)
    if serving.device == "cpu":
        return _set_parameter(text, "device", "cpu")
    kinds = list(_KIND.finditer(text))
    if len(kinds) != 1:
        raise ConfigurationError(f"expected one instance group of kind KIND_CPU, found {len(kinds)}")
    indent = kinds[0].group("indent")
    # A stream model holds each stream's state in one instance: one GPU, whatever the others
    placed = serving.gpus[:1] if "sequence_batching" in text else serving.gpus
    gpus = ", ".join(str(gpu) for gpu in placed)
    text = _KIND.sub(f"{indent}kind: KIND_GPU\n{indent}gpus: [ {gpus} ]", text)
    return _set_parameter(text, "device", "cuda")


@dataclass(frozen=True)
class RenderedModel:
    name: str
    config: Path
    on_gpu: bool


def render_repository(out: Path, serving: ServingSettings, source: Path | None = None) -> list[RenderedModel]:
    """Write every model's ``config.pbtxt`` and ``1/model.py`` under ``out`` for ``serving``; whatever else
    is there (checkpoints, published versions) stays."""
    source = source or source_repository()
    configs = sorted(source.glob(f"*/{CONFIG_FILE}"))
    if not configs:
        raise ConfigurationError(f"no */{CONFIG_FILE} in {source}: the package's model repository is missing")
    rendered = []
    for config in configs:
        name = config.parent.name
        try:
            text = render_config(config.read_text(encoding="utf-8"), serving)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{config}: {exc}") from None
        target = out / name / CONFIG_FILE
        (out / name / "1").mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        shutil.copyfile(config.parent / "1" / ENTRY_POINT, out / name / "1" / ENTRY_POINT)
        rendered.append(RenderedModel(name, target, "kind: KIND_GPU" in text))
    return rendered
