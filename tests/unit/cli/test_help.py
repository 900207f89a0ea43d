"""Every command explains itself: `guardstream --help` and each subcommand's --help."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from workers.cli.main import app

COMMAND = typer.main.get_command(app)


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path; typer ships its own click, so groups are recognised by ``commands``."""
    paths = [prefix]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            paths.extend(command_paths(sub, (*prefix, name)))
    return paths


@pytest.mark.parametrize("path", command_paths(COMMAND), ids=lambda path: " ".join(path) or "guardstream")
def test_every_command_has_help_text(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    command: Any = COMMAND
    for name in path:
        command = command.commands[name]
    assert (command.help or "").strip(), f"{' '.join(path)} has no help text"
    for parameter in command.params:
        if (
            not getattr(parameter, "is_argument", False)
            and parameter.param_type_name == "option"
            and parameter.name != "help"
        ):
            assert (parameter.help or "").strip(), f"option {parameter.name} of {' '.join(path)} has no help"


def test_the_main_commands_are_there() -> None:
    assert {"dev", "model", "audit", "worker", "demo"} <= set(COMMAND.commands)
