"""``guardstream policy``: moderation policy for many teams, blocklists first.

The logic lives in :mod:`guardstream.blocklist`; these commands only read options and print.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from guardstream.blocklist.check import CheckReport, KindResult

from workers.cli import blocklist

app = typer.Typer(help="Moderation policy: blocklists and how well they match.", no_args_is_help=True)
app.add_typer(blocklist.app, name="blocklist")


@app.command("check-variants")
def check_variants(
    lists: list[Path] = typer.Option(
        None, "--list", help="A blocklist YAML file (repeatable); the shipped lists when none is given."
    ),
    variants_per_kind: int = typer.Option(3, "--variants-per-kind", min=1, help="Variants of each kind per term."),
    seed: int = typer.Option(0, "--seed", help="Seed of the variant generator and the benign corpus."),
    json_out: Path | None = typer.Option(None, "--json-out", help="Also write the full report as JSON here."),
) -> None:
    """Measure the blocklist matcher on generated variants and benign look-alikes (held-out carrier sentences).

    The last line is POLICY n=… variant_recall=… false_hit_rate=… us_per_event=….
    """
    from rich.console import Console

    from guardstream.blocklist.check import check_variants as run_check
    from guardstream.blocklist.files import load_lists, shipped_lists
    from guardstream.errors import ConfigurationError

    try:
        blocklists = load_lists(lists) if lists else shipped_lists()
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    report = run_check(blocklists, per_kind=variants_per_kind, seed=seed)
    console = Console()
    console.print(_table("variants found, by kind", "found", report.variant_kinds, "missed, e.g."))
    console.print(_table("benign lines falsely hit, by kind", "false hits", report.benign_kinds, "hit, e.g."))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    typer.echo(_summary(report))
    typer.echo(report.policy_line())


def _table(title: str, counted: str, kinds: tuple[KindResult, ...], examples: str) -> object:
    from rich.table import Table

    table = Table(title=title)
    for column in ("kind", "lines", counted, "rate", examples):
        table.add_column(column, overflow="fold")
    for kind in kinds:
        table.add_row(kind.kind, str(kind.total), str(kind.found), f"{kind.rate:.4f}", "\n".join(kind.examples))
    return table


def _summary(report: CheckReport) -> str:
    return (
        f"lists: {', '.join(report.lists)}; {report.key_count} automaton keys; "
        f"{report.benign_n} benign lines; frames: {report.frames}; seed {report.seed}"
    )
