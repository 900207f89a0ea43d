"""`guardstream dev …`: the local real-component stack (Kafka, Triton, optional PostgreSQL)."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from devtools.devstack import stack
from devtools.devstack.errors import DevStackError
from devtools.devstack.settings import DevStackSettings

app = typer.Typer(
    help=(
        "Run the local stack of real components for development and tests: a Kafka broker (KRaft), "
        "a Triton server on triton_models/, and optionally PostgreSQL. "
        "Ports and folders come from GUARDSTREAM_DEV_* variables."
    ),
    no_args_is_help=True,
)

_console = Console()
_errors = Console(stderr=True)


def _configure_logging(verbose: bool) -> None:
    root = logging.getLogger()
    if not root.handlers:  # the top-level CLI may have configured logging already
        root.addHandler(RichHandler(console=_errors, show_path=False, rich_tracebacks=False))
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def _table(rows: list[stack.ComponentStatus]) -> Table:
    table = Table(title="guardstream dev stack")
    for column in ("component", "running", "pid", "address", "healthy"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.name,
            "[green]yes[/]" if row.running else "[red]no[/]",
            str(row.pid) if row.pid is not None else "-",
            row.address,
            "[green]yes[/]" if row.healthy else "[red]no[/]",
        )
    return table


@app.command()
def up(
    postgres: Annotated[
        bool | None,
        typer.Option(
            "--postgres/--no-postgres",
            help="Also run the project-owned PostgreSQL cluster (default: GUARDSTREAM_DEV_WITH_POSTGRES, off).",
            show_default=False,
        ),
    ] = None,
    topics: Annotated[
        bool, typer.Option("--topics/--no-topics", help="Create the pipeline's Kafka topics if missing.")
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False,
) -> None:
    """Start what is not running yet and wait until every component answers."""
    _configure_logging(verbose)
    try:
        rows = stack.up(DevStackSettings(), with_postgres=postgres, create_topics=topics)
    except DevStackError as exc:
        _errors.print(f"[bold red]dev stack failed to start:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(code=1) from exc
    _console.print(_table(rows))


@app.command()
def down(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False) -> None:
    """Stop what `up` started, in reverse order; anything else is left alone."""
    _configure_logging(verbose)
    try:
        stopped = stack.down(DevStackSettings())
    except DevStackError as exc:
        _errors.print(f"[bold red]dev stack failed to stop:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(code=1) from exc
    _console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show each component: running, pid, address, healthy. Exits 1 if any is not healthy."""
    rows = stack.status(DevStackSettings())
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        _console.print(_table(rows))
    if not all(row.healthy for row in rows):
        raise typer.Exit(code=1)


@app.command("postgres-url")
def postgres_url() -> None:
    """Print the SQLAlchemy URL of the project-owned PostgreSQL database (for scripts)."""
    typer.echo(DevStackSettings().postgres_url)
