"""Commands that other packages add to ``guardstream``: the ``guardstream.commands`` entry points.

The dev tooling (``devtools``: ``guardstream dev``, ``bench``, ``chaos``, ``demo``, ``guard``) joins the
command line this way, so that the services never import it. An entry point names a Typer app (a command
group) or a function (one command). One that cannot be loaded is still listed, and says why when run;
an install without any of them (one made before they were declared) says so for an unknown command.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

GROUP = "guardstream.commands"
REINSTALL = "reinstall guardstream (`make venv`, or `pip install -e .`)"


class CommandLine(TyperGroup):
    """``guardstream``'s own group: an unknown command says when no plugin commands are installed at all."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and not entry_points(group=GROUP):
            ctx.fail(
                f"No such command {cmd_name!r}, and no {GROUP} entry points (the dev tooling's commands) "
                f"are installed: {REINSTALL}."
            )
        return command


def add_plugin_commands(app: typer.Typer) -> None:
    """Add every ``guardstream.commands`` entry point to ``app`` under its name, in name order."""
    for entry_point in sorted(entry_points(group=GROUP), key=lambda point: point.name):
        try:
            plugin = entry_point.load()
        except Exception as exc:  # an import error of any kind in the plugin's module
            _add_unavailable(app, entry_point, f"{type(exc).__name__}: {exc}")
            continue
        if isinstance(plugin, typer.Typer):
            app.add_typer(plugin, name=entry_point.name)
        elif callable(plugin):
            app.command(entry_point.name)(plugin)
        else:
            _add_unavailable(app, entry_point, f"{type(plugin).__name__} is neither a Typer app nor a function")


def _add_unavailable(app: typer.Typer, entry_point: EntryPoint, reason: str) -> None:
    """List the command, with whatever arguments it is given, as one that fails with ``reason``."""

    def unavailable() -> NoReturn:
        typer.echo(
            f"error: `guardstream {entry_point.name}` could not be loaded from {entry_point.value} ({reason}); "
            f"{REINSTALL}",
            err=True,
        )
        raise typer.Exit(2)

    app.command(
        entry_point.name,
        help=f"Unavailable: {entry_point.value} could not be loaded ({reason}).",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )(unavailable)
