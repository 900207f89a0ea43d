"""The dev tooling's commands join `guardstream` as entry points; the command line never imports devtools."""

from __future__ import annotations

import ast
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from workers.cli import plugins
from workers.cli.main import app

CLI_DIR = Path(plugins.__file__).parent
DEV_COMMANDS = ("dev", "bench", "chaos", "demo", "guard")


def test_guardstream_help_lists_the_dev_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    listed = {line.strip("│ ").split(" ")[0] for line in result.output.splitlines()}
    assert set(DEV_COMMANDS) <= listed, result.output


@pytest.mark.parametrize("command", DEV_COMMANDS)
def test_each_dev_command_answers_its_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Unavailable" not in result.output


@pytest.mark.parametrize("module", sorted(CLI_DIR.glob("*.py")), ids=lambda path: path.name)
def test_the_command_line_imports_no_devtools_module(module: Path) -> None:
    imported: list[str] = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            imported.append(node.module)
    assert not [name for name in imported if name == "devtools" or name.startswith("devtools.")]


def plugin_app(monkeypatch: pytest.MonkeyPatch, *points: EntryPoint) -> typer.Typer:
    monkeypatch.setattr(plugins, "entry_points", lambda group: [p for p in points if p.group == group])
    plugin_host = typer.Typer(cls=plugins.CommandLine, no_args_is_help=True)

    @plugin_host.callback()
    def host() -> None:
        """A command line with commands of its own and plugin ones."""

    @plugin_host.command("own")
    def own() -> None:
        """A command of the host itself."""

    plugins.add_plugin_commands(plugin_host)
    return plugin_host


def test_a_plugin_that_cannot_be_loaded_is_listed_and_fails_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint(name="broken", value="devtools.no_such_module:app", group=plugins.GROUP)
    host = plugin_app(monkeypatch, broken)

    assert "broken" in CliRunner().invoke(host, ["--help"]).output
    result = CliRunner().invoke(host, ["broken", "up", "--postgres"])
    assert result.exit_code == 2
    assert "devtools.no_such_module:app" in result.output
    assert "ModuleNotFoundError" in result.output and "make venv" in result.output


def test_a_plugin_that_is_neither_an_app_nor_a_function_fails_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    host = plugin_app(monkeypatch, EntryPoint(name="odd", value="workers.cli.plugins:GROUP", group=plugins.GROUP))

    result = CliRunner().invoke(host, ["odd"])
    assert result.exit_code == 2
    assert "str is neither a Typer app nor a function" in result.output


def test_an_install_without_plugin_commands_says_so_for_an_unknown_command(monkeypatch: pytest.MonkeyPatch) -> None:
    host = plugin_app(monkeypatch)

    result = CliRunner().invoke(host, ["dev", "up"])
    assert result.exit_code == 2
    assert "No such command 'dev'" in result.output and "make venv" in " ".join(result.output.split())


def test_with_plugin_commands_installed_an_unknown_command_is_only_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    host = plugin_app(monkeypatch, EntryPoint(name="demo", value="devtools.cli.demo:run_demo", group=plugins.GROUP))

    result = CliRunner().invoke(host, ["nope"])
    assert result.exit_code == 2
    assert "No such command 'nope'" in result.output and "make venv" not in result.output
