"""``guardstream audit``: read the audit store."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from guardstream.audit.store import AuditStore

app = typer.Typer(help="Look up verdicts and statistics in the SQL audit store.", no_args_is_help=True)
JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def _store() -> AuditStore:
    from guardstream.audit.engine import build_engine, migrate
    from guardstream.audit.store import AuditStore
    from guardstream.settings import load_settings

    engine = build_engine(load_settings().audit.url)
    migrate(engine)
    return AuditStore(engine)


@app.command("show")
def show(event_id: str = typer.Argument(..., help="The chat event's event_id."), as_json: bool = JSON_OPTION) -> None:
    """Show the recorded verdict of one chat event, with its text and latencies, its revisions (the
    model's verdict after a fallback verdict) and what a shadow policy decided."""
    store = _store()
    row = store.verdict(event_id)
    if row is None:
        typer.echo(f"no verdict recorded for event_id {event_id!r}", err=True)
        raise typer.Exit(1)
    later = {
        "revisions": store.revisions([event_id]).get(event_id, []),
        "shadow_decisions": store.shadow_decisions([event_id]).get(event_id, []),
    }
    if as_json:
        typer.echo(json.dumps({**row, **later}, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"verdict for {event_id}", show_header=False)
    for key, value in row.items():
        table.add_row(key, str(value))
    console = Console()
    console.print(table)
    for title, rows in later.items():
        for number, found in enumerate(rows, start=1):
            extra = Table(title=f"{title.replace('_', ' ')} {number}", show_header=False)
            for key, value in found.items():
                extra.add_row(key, str(value))
            console.print(extra)


@app.command("stats")
def stats(as_json: bool = JSON_OPTION) -> None:
    """Counts by label and by model version, dead letters by kind, latency percentiles."""
    result = _store().stats()
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(result), ensure_ascii=False, indent=2))
        return
    console = Console()
    console.print(f"[bold]{result.total}[/bold] verdicts")
    for title, counts in (
        ("by label", result.by_label),
        ("by model version", result.by_model_version),
        ("dead letters by kind", result.dead_letters_by_kind),
    ):
        table = Table(title=title)
        table.add_column("key")
        table.add_column("count", justify="right")
        for key, count in sorted(counts.items()):
            table.add_row(key, str(count))
        console.print(table)
    latency = Table(title="latency (ms)")
    latency.add_column("measure")
    for percentile in ("p50", "p95", "p99"):
        latency.add_column(percentile, justify="right")
    for name, values in (("event → verdict", result.end_to_end_ms), ("inference", result.inference_ms)):
        latency.add_row(name, *(f"{values.get(p, float('nan')):.1f}" for p in ("p50", "p95", "p99")))
    console.print(latency)


@app.command("migrate")
def migrate_store() -> None:
    """Bring the audit store's schema to the newest migration (the worker also does this)."""
    _store()
    typer.echo("audit store is at the newest migration")
