"""Version folders of the Triton model repository: numbering, the serving version, publishing.

A published candidate becomes ``<repository>/<model>/<N+1>/`` holding ``model.py`` (the same thin
entry point as version 1) and ``checkpoint/``. The folder is assembled under a hidden staging
name and renamed into place, so Triton never sees a half-written version. Loading it into
Triton, the smoke check and promotion belong to the serving side (``guardstream model …``).

The serving version is the one named ``current`` for the model in ``<repository>/serving.json``
(written by the serving side), else the highest numbered version that has a checkpoint: a generative
guard's (``config.json``, or ``adapter_config.json`` for LoRA) or a fast guard's (``fast_guard.json``).
The same steps publish both guards; their ``model.py`` is the same thin entry point.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from guardstream.guard.serving_pointer import read_pointer

MODEL_PY = (
    '"""Triton entry point of a guard model version published by the training job."""\n\n'
    "from guardstream.guard.triton_backend import TritonPythonModel\n\n"
    '__all__ = ["TritonPythonModel"]\n'
)
CHECKPOINT_MARKERS = ("config.json", "adapter_config.json", "fast_guard.json")


@dataclass(frozen=True)
class PublishedVersion:
    version: int
    path: Path


def versions(repository: Path, model_name: str) -> list[int]:
    folder = repository / model_name
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def serving_version(repository: Path, model_name: str) -> int | None:
    pointer = read_pointer(repository, model_name)
    current = pointer.current if pointer is not None else ""
    if current.isdigit() and (repository / model_name / current / "checkpoint").is_dir():
        return int(current)
    ready = [
        v
        for v in versions(repository, model_name)
        if any((checkpoint_of(repository, model_name, v) / marker).is_file() for marker in CHECKPOINT_MARKERS)
    ]
    return ready[-1] if ready else None


def checkpoint_of(repository: Path, model_name: str, version: int) -> Path:
    return repository / model_name / str(version) / "checkpoint"


def publish(checkpoint: Path, repository: Path, model_name: str) -> PublishedVersion:
    """Copy ``checkpoint`` into a new version folder numbered one above the highest present."""
    folder = repository / model_name
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".publish-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(checkpoint, staging / "checkpoint")
        (staging / "model.py").write_text(MODEL_PY, encoding="utf-8")
        while True:
            number = (versions(repository, model_name) or [0])[-1] + 1
            target = folder / str(number)
            try:
                target.mkdir()
            except FileExistsError:
                continue
            staging.rename(target)  # POSIX: replaces the empty folder just claimed, atomically
            return PublishedVersion(number, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
