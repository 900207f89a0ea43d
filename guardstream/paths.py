"""Where the repository's own folders are, found from this file rather than the working directory."""

from __future__ import annotations

from pathlib import Path


def repository_root() -> Path:
    """The folder holding ``pyproject.toml`` (the checkout this package runs from)."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    raise FileNotFoundError(f"no pyproject.toml above {here}; guardstream must run from its checkout")


def runtime_dir() -> Path:
    """Git-ignored folder for run-time state: logs, pid files, the SQLite audit store."""
    return repository_root() / ".run"
