"""``guardstream escalate``: the escalation agent (windowed rules over verdicts → actions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from workers.role_check import CHECK_HELP

if TYPE_CHECKING:
    from guardstream.settings import Settings
    from workers.escalation.rules import RuleSet
    from workers.escalation.settings import EscalationSettings

app = typer.Typer(
    help="Escalation agent: per-user and per-conversation rules over windows of verdicts produce actions "
    "(mute, escalate, flag) on moderation.actions. Settings: GUARDSTREAM_ESCALATION_<FIELD>.",
    no_args_is_help=True,
)
RULES_OPTION = typer.Option(
    None,
    "--rules",
    help="Rules YAML file (default: GUARDSTREAM_ESCALATION_RULES_FILE, else the shipped rules.default.yaml).",
)


def _load(rules: Path | None) -> tuple[Settings, EscalationSettings, RuleSet]:
    from guardstream.errors import ConfigurationError
    from guardstream.settings import load_settings
    from workers.escalation.rules import default_rules_path, load_rules
    from workers.escalation.settings import load_escalation_settings

    try:
        settings = load_settings()
        escalation = load_escalation_settings()
        ruleset = load_rules(rules or escalation.rules_file or default_rules_path())
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return settings, escalation, ruleset


@app.command("run")
def run(
    rules: Path = RULES_OPTION,
    log_level: str = typer.Option("INFO", help="Log level: DEBUG, INFO, WARNING or ERROR."),
    check: bool = typer.Option(False, "--check", help=CHECK_HELP),
) -> None:
    """Run the agent until SIGTERM or Ctrl-C: consume verdicts, keep windowed counts, produce actions."""
    from guardstream.errors import ConfigurationError
    from guardstream.telemetry import configure_logging
    from workers.escalation.app import build_agent

    configure_logging(log_level)
    if check:
        from guardstream.settings import load_settings
        from workers.escalation.rules import default_rules_path, load_rules
        from workers.escalation.settings import load_escalation_settings
        from workers.role_check import check_role

        def settings_and_rules() -> Settings:
            escalation = load_escalation_settings()  # a bad agent setting or rules file fails the check too
            load_rules(rules or escalation.rules_file or default_rules_path())
            return load_settings()

        check_role("escalation", settings_and_rules)
    settings, escalation, ruleset = _load(rules)
    try:
        build_agent(settings, escalation, ruleset).run(loglevel=log_level)
    except ConfigurationError as exc:  # wrong credentials, certificates or key: say what to fix
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("check")
def check(rules: Path = RULES_OPTION) -> None:
    """Validate a rules file and print its rules; exit status 2 if it is invalid."""
    from workers.escalation.status import describe_rules

    _, _, ruleset = _load(rules)
    typer.echo(f"rules version {ruleset.version}, grace {ruleset.grace_ms} ms: {len(ruleset.rules)} rules valid")
    for rule in describe_rules(ruleset):
        typer.echo(
            f"  {rule['id']}@{rule['version']}: {rule['scope']} {rule['window']} {rule['condition']} → {rule['action']}"
        )


@app.command("status")
def status(
    rules: Path = RULES_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables."),
) -> None:
    """Show the rules and the hottest users and conversations now (from the agent's table changelog)."""
    from rich.console import Console
    from rich.table import Table

    from workers.escalation.status import read_status

    settings, escalation, ruleset = _load(rules)
    try:
        result = read_status(settings.kafka, escalation.windows_changelog_topic, ruleset, escalation.hottest)
    except Exception as exc:  # the broker may be down: say so, without a trace
        typer.echo(f"error: cannot read {escalation.windows_changelog_topic}: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    console = Console()
    console.print(f"rules version [bold]{result.rules_version}[/bold], grace {result.grace_ms} ms")
    rules_table = Table(title="rules")
    for column in ("id", "version", "type", "scope", "window", "condition", "action"):
        rules_table.add_column(column)
    for rule in result.rules:
        action = rule["action"] + (f" {rule['duration_ms'] // 1000}s" if rule["duration_ms"] else "")
        rules_table.add_row(
            rule["id"], rule["version"], rule["type"], rule["scope"], rule["window"], rule["condition"], action
        )
    console.print(rules_table)
    console.print(
        f"{result.keys} keys with open windows, {result.late_verdicts} late verdicts dropped, stream time {result.stream_time_ms}"
    )
    for title, rows in (
        ("hottest users", result.hottest_users),
        ("hottest conversations", result.hottest_conversations),
    ):
        table = Table(title=title)
        for column in ("key", "unsafe", "review", "total", "window", "categories", "fired"):
            table.add_column(column)
        for row in rows:
            categories = ", ".join(f"{k}={v}" for k, v in sorted(row.categories.items()))
            window = f"[{row.window_start_ms}, {row.window_end_ms})"
            table.add_row(
                row.key, str(row.unsafe), str(row.review), str(row.total), window, categories, str(row.fired_windows)
            )
        console.print(table)
