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
    """Folder for run-time state (logs, pid files, the SQLite audit store): the checkout's git-ignored
    ``.run``; for an installed package (no checkout above it), ``.run`` in the working directory."""
    try:
        return repository_root() / ".run"
    except FileNotFoundError:
        return Path.cwd() / ".run"
