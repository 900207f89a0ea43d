"""Which version of each served model is current: ``<repository>/serving.json``.

The serving side (``guardstream model promote``) writes it; the training job reads it to find the
serving version it must beat, and ``guardstream dev up`` re-applies it after Triton restarts. One
entry per model name::

    {"guard": {"current": "3", "previous": "2", "loaded": ["2", "3"]},
     "guard_fast": {"current": "2", "previous": "1", "loaded": ["1", "2"]}}

A file written before the fast guard existed held the guard's pointer alone at the top level; it is
read as the entry of ``guard``.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "serving.json"
LEGACY_MODEL = "guard"


@dataclass
class ServingPointer:
    current: str = ""
    previous: str = ""
    loaded: list[str] = field(default_factory=list)


def _read_all(repository: Path) -> dict[str, Any]:
    try:
        data = json.loads((repository / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    if "current" in data:  # the single-model layout of earlier releases
        return {LEGACY_MODEL: data}
    return data


def read_pointer(repository: Path, model_name: str) -> ServingPointer | None:
    """The saved pointer of ``model_name``; None when none was saved (or it is unreadable)."""
    entry = _read_all(repository).get(model_name)
    if not isinstance(entry, dict):
        return None
    try:
        return ServingPointer(
            str(entry.get("current", "")), str(entry.get("previous", "")), [str(v) for v in entry.get("loaded", [])]
        )
    except TypeError:
        return None


def saved_models(repository: Path) -> list[str]:
    """The model names that have a saved pointer."""
    return sorted(name for name, entry in _read_all(repository).items() if isinstance(entry, dict))


def write_pointer(repository: Path, model_name: str, pointer: ServingPointer) -> None:
    """Save ``model_name``'s pointer beside the others', replacing the file atomically."""
    data = _read_all(repository)
    data[model_name] = asdict(pointer)
    staging = repository / f".{STATE_FILE}.{uuid.uuid4().hex[:8]}"
    staging.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(staging, repository / STATE_FILE)
