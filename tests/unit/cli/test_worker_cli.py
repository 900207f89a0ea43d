"""The worker refuses to start with a clear message instead of a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from workers.cli.main import app


def test_invalid_setting_is_named_and_exit_code_is_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDSTREAM_WORKER__BATCH_MAX_SIZE", "0")
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "GUARDSTREAM_WORKER__BATCH_MAX_SIZE" in result.output
