from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_dev_stack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests see the documented defaults, whatever GUARDSTREAM_DEV_* the shell exports."""
    for name in list(os.environ):
        if name.startswith("GUARDSTREAM_DEV_"):
            monkeypatch.delenv(name)
