"""A copy of the checkout's package sources to build a wheel from, as git sees them: the files it
tracks and the new ones it does not ignore. Never what lies beside them at run time: built weights,
or a model version that a test running alongside has just published into ``triton_models``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from guardstream.paths import repository_root

ROOT = repository_root()
SOURCES = ("guardstream", "workers", "training", "devtools", "schemas", "triton_models", "pyproject.toml", "README.md")


def copy_package_sources(destination: Path, root: Path = ROOT) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *SOURCES],
        cwd=root, check=True, capture_output=True, timeout=60,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source, target = root / name, destination / name
        if not source.is_symlink() and not source.is_file():  # deleted in the working tree, not yet in git
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)  # a link stays a link (guardstream/schemas)
