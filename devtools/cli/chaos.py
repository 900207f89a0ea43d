"""``guardstream chaos run``: faults injected into the real local stack, one CHAOS line per scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devtools.chaos.options import SCENARIOS as SCENARIO_NAMES
from devtools.chaos.options import chosen_scenarios

app = typer.Typer(
    help="The chaos suite: kill workers, restart Triton and the broker, stop the database, rebalance, "
    "send poison, fuzzed events at every field's limit, events sent twice and overload, against the local stack of "
    "`guardstream dev up --postgres`; every output is counted against every input.",
    no_args_is_help=True,
)


@app.command("run")
def run_chaos(
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenarios",
            "--scenario",
            "-s",
            help=f"Scenarios to run, comma-separated or repeated (default: all): {', '.join(SCENARIO_NAMES)}.",
        ),
    ] = None,
    events: Annotated[int, typer.Option(min=1, help="Valid chat events per scenario.")] = 20_000,
    kills: Annotated[int, typer.Option(min=1, help="kill -9 count of the kill9 scenario.")] = 5,
    outage: Annotated[
        float, typer.Option(min=1.0, help="Seconds the database (db_outage) or Triton (fallback) stays down.")
    ] = 25.0,
    resend_after: Annotated[
        float, typer.Option(min=0.0, help="Seconds before the duplicates scenario sends its late copies.")
    ] = 60.0,
    overload_seconds: Annotated[float, typer.Option(min=5.0, help="Duration of the overload.")] = 300.0,
    overload_factor: Annotated[float, typer.Option(min=1.0, help="Overload rate ÷ sustainable rate.")] = 10.0,
    sustainable_rate: Annotated[
        float | None,
        typer.Option(help="Verdicts/s the pipeline sustains (default: measured first by the overload scenario)."),
    ] = None,
    calibration_events: Annotated[
        int, typer.Option(min=100, help="Backlog that measures the sustainable rate.")
    ] = 2_000,
    stall: Annotated[
        float,
        typer.Option(
            min=10.0, help="Seconds without one more output after which a scenario fails (slow is waited for)."
        ),
    ] = 180.0,
    seed: Annotated[int, typer.Option(help="Seed of the streams and of the fault moments.")] = 11,
    audit_url: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL URL of the audit store (default: the dev stack's, `guardstream dev postgres-url`)."
        ),
    ] = None,
    report: Annotated[Path, typer.Option(help="Where the JSON report goes.")] = Path(".run/chaos/results.json"),
    log_level: Annotated[str, typer.Option(help="Log level of the suite itself (workers log to files).")] = "WARNING",
) -> None:
    """Run the scenarios one after another and print, for each:

    CHAOS scenario=<name> sent=<int> verdicts=<int> dlq=<int> lost=<int> dup_topic=<int> dup_audit=<int> peak_rss_mb=<float>

    Exits 1 if any scenario breaks a criterion (lost, duplicates, poison not accounted for, worker
    memory ≥ 1 GiB or growing under overload); the JSON report lists each failure.
    """
    import dataclasses

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from devtools.chaos.options import ChaosOptions
    from devtools.chaos.report import ScenarioResult, write_report
    from devtools.chaos.runner import ChaosFailure, run_scenario
    from devtools.chaos.scenarios import SCRIPTS
    from devtools.devstack.settings import DevStackSettings
    from guardstream.settings import load_settings
    from guardstream.telemetry import configure_logging

    try:
        chosen = chosen_scenarios(scenario)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scenarios") from None
    configure_logging(log_level)
    console = Console(stderr=True)
    options = ChaosOptions(
        events=events, seed=seed, kills=kills, outage_s=outage, resend_after_s=resend_after, overload_s=overload_seconds,
        overload_factor=overload_factor, sustainable_rate=sustainable_rate, calibration_events=calibration_events,
        stall_s=stall, output_dir=report.parent,
    )  # fmt: skip
    settings = load_settings()
    devstack = DevStackSettings()
    base_url = audit_url or devstack.postgres_url
    results: list[ScenarioResult] = []
    columns = (
        TextColumn("{task.fields[name]:<15}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    for name in chosen:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("starting", name=name, total=None)

            def show(phase: str, done: int, total: int, task: TaskID = task) -> None:
                progress.update(task, description=phase, completed=done, total=total or None)

            try:
                result = run_scenario(name, SCRIPTS[name], settings, base_url, options, show, devstack)
            except ChaosFailure as exc:
                result = ScenarioResult(scenario=name, failures=[str(exc)])
        results.append(result)
        print(result.line(), flush=True)
        for failure in result.failures:
            console.print(f"[red]  {name}: {failure}", highlight=False)
        write_report(report, results, dataclasses.asdict(options))
    console.print(f"report: {report}")
    if not all(result.passed for result in results):
        raise typer.Exit(1)
