"""Where the repository's own folders are, found from this file rather than the working directory."""

from __future__ import annotations

from pathlib import Path


def repository_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: this package) holding ``pyproject.toml``."""
    here = (start or Path(__file__)).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    raise FileNotFoundError(f"no pyproject.toml at or above {here}; guardstream runs from its checkout")


def runtime_dir() -> Path:
    """Git-ignored folder for run-time state: logs, pid files, the SQLite audit store."""
    return repository_root() / ".run"
