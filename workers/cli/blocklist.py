"""``guardstream policy blocklist``: the stored blocklists workers apply before the model.

Lists live in the audit store; running workers reload them within
``GUARDSTREAM_POLICY__BLOCKLIST_REFRESH_S`` seconds of a change, without a restart. Every change
bumps the list's version, which each verdict a list decided or raised names.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from guardstream.blocklist.model import ListEffect, MatchMode, TermAction
from guardstream.guard.categories import HarmCategory

if TYPE_CHECKING:
    from guardstream.audit.blocklist_store import BlocklistStore
    from guardstream.blocklist.model import Blocklist

app = typer.Typer(
    help="Manage the blocklists workers match (with Chinese variants) before the model.", no_args_is_help=True
)

CATEGORIES = ", ".join(category.value for category in HarmCategory)
BY_OPTION = typer.Option(None, "--by", help="Who makes the change (kept in the list's history). Default: the OS user.")


@contextmanager
def _store() -> Iterator[BlocklistStore]:
    """The store of the configured audit database; a refused change or an outage exits 2 with the reason."""
    from guardstream.audit.blocklist_store import BlocklistStore
    from guardstream.audit.engine import build_engine, migrate
    from guardstream.errors import ConfigurationError, DependencyUnavailableError
    from guardstream.settings import load_settings

    try:
        engine = build_engine(load_settings().audit.url)
        migrate(engine)
        yield BlocklistStore(engine)
    except (ConfigurationError, DependencyUnavailableError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _by(by: str | None) -> str:
    return by or getpass.getuser()


def _category(name: str) -> HarmCategory:
    try:
        return HarmCategory.parse(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--category") from None


@app.command("add")
def add(
    name: str = typer.Argument(..., help="The list's name; a new name creates the list."),
    terms: list[str] = typer.Argument(..., help="Terms to add (or to change, when listed already)."),
    category: str = typer.Option(..., "--category", "-c", help=f"The terms' harm category: {CATEGORIES}."),
    action: TermAction = typer.Option(TermAction.UNSAFE, help="The label a hit stands for."),
    match: MatchMode = typer.Option(
        MatchMode.VARIANT,
        help="variant: also homophones, pinyin, initials, traditional, look-alike and split "
        "characters, inserted separators; exact: the term as written (after Unicode normalisation).",
    ),
    effect: ListEffect | None = typer.Option(
        None,
        help="What a hit of this list does: decide (the verdict, the model is not asked) or raise (the "
        "model's score is raised to --raise-to). A new list: decide.",
    ),
    raise_to: float | None = typer.Option(
        None, min=0.0, max=1.0, help="With --effect raise: the lowest p_unsafe after a hit."
    ),
    description: str | None = typer.Option(None, help="What the list is for."),
    by: str | None = BY_OPTION,
) -> None:
    """Add terms to a list (created if new). Workers apply the new version within seconds."""
    from guardstream.blocklist.model import BlocklistTerm

    harm = _category(category)
    with _store() as store:
        stored = store.add(
            name, [BlocklistTerm(term, harm, action, match) for term in terms],
            by=_by(by), effect=effect, raise_to=raise_to, description=description,
        )  # fmt: skip
    typer.echo(f"{stored.name} v{stored.version}: {len(stored.terms)} terms")


@app.command("remove")
def remove(
    name: str = typer.Argument(..., help="The list's name."),
    terms: list[str] = typer.Argument(None, help="Terms to remove; each must be in the list."),
    whole_list: bool = typer.Option(False, "--whole-list", help="Delete the list itself (its history stays)."),
    by: str | None = BY_OPTION,
) -> None:
    """Remove terms from a list, or the whole list with --whole-list."""
    if bool(terms) == whole_list:
        raise typer.BadParameter("name the terms to remove, or pass --whole-list (not both)")
    with _store() as store:
        if whole_list:
            store.drop(name, by=_by(by))
            typer.echo(f"{name}: deleted")
            return
        stored = store.remove(name, terms, by=_by(by))
    typer.echo(f"{stored.name} v{stored.version}: {len(stored.terms)} terms")


@app.command("list")
def list_lists(
    name: str | None = typer.Argument(None, help="Show this list's terms (and with --history its changes)."),
    history: bool = typer.Option(False, "--history", help="With a NAME: every change to the list, oldest first."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table."),
) -> None:
    """The stored lists, or one list's terms."""
    with _store() as store:
        if name is None:
            _print_lists(store.lists(), as_json)
            return
        blocklist = store.get(name)
        changes = store.history(name) if history else []
    if blocklist is None:
        typer.echo(f"no blocklist is named {name!r}", err=True)
        raise typer.Exit(1)
    _print_terms(blocklist, changes, as_json)


@app.command("import")
def import_list(
    files: list[Path] = typer.Argument(
        None,
        exists=True,
        dir_okay=False,
        help="Blocklist YAML files (name, effect, terms), or text files of one "
        "term per line (then --name and --category are needed).",
    ),
    shipped: bool = typer.Option(False, "--shipped", help="Import the default lists shipped with guardstream."),
    name: str | None = typer.Option(None, help="For a text file: the list's name (default: the file's stem)."),
    category: str | None = typer.Option(
        None, "--category", "-c", help=f"For a text file: the terms' category: {CATEGORIES}."
    ),
    action: TermAction = typer.Option(TermAction.UNSAFE, help="For a text file: the label a hit stands for."),
    match: MatchMode = typer.Option(MatchMode.VARIANT, help="For a text file: how its terms match."),
    by: str | None = BY_OPTION,
) -> None:
    """Make each list exactly what a file holds (terms not in the file are removed from it)."""
    from guardstream.blocklist.files import load_blocklist, load_plain_terms, shipped_lists
    from guardstream.errors import ConfigurationError

    if not files and not shipped:
        raise typer.BadParameter("name blocklist files, or pass --shipped")
    text_files = [path for path in files or [] if path.suffix.lower() == ".txt"]
    if text_files and category is None:
        raise typer.BadParameter(f"{text_files[0]} is a text file: give the terms' --category")
    try:
        lists = [
            load_plain_terms(path, category=_category(category or ""), action=action, match=match, name=name)
            if path in text_files
            else load_blocklist(path)
            for path in files or []
        ]
        lists += shipped_lists() if shipped else []
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    with _store() as store:
        for blocklist in lists:
            stored = store.replace(blocklist, by=_by(by))
            typer.echo(f"{stored.name} v{stored.version}: {len(stored.terms)} terms")


def _print_lists(lists: list[Blocklist], as_json: bool) -> None:
    if as_json:
        rows = [
            {"name": b.name, "version": b.version, "effect": b.effect.value, "raise_to": b.raise_to,
             "terms": len(b.terms), "description": b.description}
            for b in lists
        ]  # fmt: skip
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(lists)} blocklists")
    for column in ("name", "version", "effect", "terms", "description"):
        table.add_column(column)
    for b in lists:
        effect = f"raise to {b.raise_to:g}" if b.effect is ListEffect.RAISE else b.effect.value
        table.add_row(b.name, str(b.version), effect, str(len(b.terms)), b.description)
    Console().print(table)


def _print_terms(blocklist: Blocklist, changes: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        document = {
            "name": blocklist.name, "version": blocklist.version, "effect": blocklist.effect.value,
            "raise_to": blocklist.raise_to, "description": blocklist.description,
            "terms": [
                {"term": t.term, "category": t.category.value, "action": t.action.value, "match": t.match.value}
                for t in blocklist.terms
            ],
            "history": changes,
        }  # fmt: skip
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{blocklist.name} v{blocklist.version} ({blocklist.effect.value}): {blocklist.description}")
    for column in ("term", "category", "action", "match"):
        table.add_column(column)
    for t in blocklist.terms:
        table.add_row(t.term, t.category.value, t.action.value, t.match.value)
    console = Console()
    console.print(table)
    if changes:
        trail = Table(title="history")
        for column in ("version", "change", "by", "at", "detail"):
            trail.add_column(column)
        for change in changes:
            trail.add_row(
                str(change["version"]), str(change["change"]), str(change["changed_by"]),
                str(change["changed_at_ms"]), ", ".join(json.loads(str(change["detail"]))),
            )  # fmt: skip
        console.print(trail)
