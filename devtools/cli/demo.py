"""``guardstream demo``: the end-to-end job behind `make run`."""

from __future__ import annotations

from pathlib import Path

import typer


def run_demo(
    events: int = typer.Option(2000, min=1, help="Valid chat events to replay."),
    poison: int = typer.Option(12, min=0, help="Malformed payloads mixed into the stream."),
    json_share: float = typer.Option(0.1, min=0.0, max=1.0, help="Share of valid events sent as JSON, not Avro."),
    seed: int = typer.Option(7, help="Seed of the generated conversations."),
    timeout: float = typer.Option(600.0, help="Seconds to wait for every verdict before giving up."),
    analysis_timeout: float = typer.Option(
        300.0, min=0.0, help="Seconds to wait, after the last verdict, for the analyses of flagged verdicts (0: none)."
    ),
    summary_file: Path = typer.Option(None, help="Also write the SUMMARY line to this file."),
    streaming: bool = typer.Option(
        False,
        "--streaming",
        help="Instead: stream a few generated LLM replies through a stream worker and show each one's "
        "provisional decisions live (continue, hold, stop) as its chunks arrive.",
    ),
    streams: int = typer.Option(6, min=1, max=40, help="With --streaming: how many replies stream at once."),
    chunk_interval_ms: float = typer.Option(
        150.0, min=0.0, help="With --streaming: milliseconds between two chunks of one reply (an LLM's pace)."
    ),
) -> None:
    """Replay a generated Chinese chat stream through a real worker and print a SUMMARY line.

    Starts a worker process, produces the stream to chat.events (with a few malformed payloads
    mixed in), waits until every record has a verdict or a dead letter (read_committed), then for
    the analyses of the flagged ones (analysis after the verdict, when analysis.enabled), stops the
    worker, and prints as its last line:

    SUMMARY events=<int> verdicts=<int> dlq=<int> safe=<int> unsafe=<int> review=<int> eps=<float> p50_ms=<float> p99_ms=<float>

    With --streaming it streams generated LLM replies instead (moderation.reply-chunks, through
    `guardstream stream-worker`) and shows them live with their decisions.
    """
    if streaming:
        _run_streaming(streams, seed, chunk_interval_ms, timeout)
        return
    import uuid
    from collections import Counter

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from devtools.demo.replay import (
        WorkerProcess,
        collect_analyses,
        collect_outcomes,
        output_start_positions,
        produce_stream,
        wait_for_group_member,
    )
    from devtools.demo.summary import against_truth, analysis_rows, summarise
    from guardstream.paths import runtime_dir
    from guardstream.policy import Policy
    from guardstream.records import Analysis
    from guardstream.settings import load_settings
    from guardstream.telemetry import configure_logging, setup_telemetry
    from workers.kafka_clients import build_settings_admin_client

    configure_logging("WARNING")
    console = Console(stderr=True)
    settings = load_settings()
    run_id = f"demo-{uuid.uuid4().hex[:8]}"
    waits_for_analyses = settings.analysis.enabled and analysis_timeout > 0
    # With an OTLP endpoint configured, each event's trace starts at a "publish" span here.
    telemetry = setup_telemetry(settings.telemetry.model_copy(update={"service_name": "guardstream-demo"}), run_id)
    worker = WorkerProcess(run_id, runtime_dir() / "logs" / f"{run_id}-worker.log")
    try:
        with console.status("starting a worker and waiting for it to join the consumer group…"):
            wait_for_group_member(build_settings_admin_client(settings.kafka), settings.worker.group_id, worker, 300)
        start = output_start_positions(settings)
        analyses_start = output_start_positions(settings, [settings.topics.analyses])[settings.topics.analyses]
        with console.status(f"producing {events} events and {poison} malformed payloads…"):
            outcome = produce_stream(settings, events, seed, json_share, poison, run_id, telemetry.tracer)
        with Progress(console=console) as progress:
            task = progress.add_task("verdicts and dead letters", total=len(outcome.produced))
            collect_outcomes(
                settings, outcome, start, timeout, lambda done: progress.update(task, completed=done), worker
            )
        flagged = {v.event_id for v in outcome.verdicts.values() if Policy.needs_person(v.label)}
        analyses: list[Analysis] = []
        if waits_for_analyses:
            with Progress(console=console) as progress:
                task = progress.add_task("analyses of flagged verdicts", total=len(flagged))
                analyses = collect_analyses(
                    settings,
                    analyses_start,
                    flagged,
                    analysis_timeout,
                    lambda done: progress.update(task, completed=done),
                )
    finally:
        code = worker.stop()
        telemetry.shutdown()
    if code not in (0, None):
        console.print(f"[red]worker exited with {code}; see {worker.log_path}")
    summary = summarise(
        len(outcome.produced), outcome.verdicts.values(), len(outcome.dead_letters), outcome.first_produced_ms
    )
    truth = against_truth(outcome.verdicts.values(), outcome.expected)
    stages = Counter(v.stage.value for v in outcome.verdicts.values() if v.stage is not None)
    table = Table(title=f"run {run_id}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in (
        ("events produced", summary.events),
        ("verdicts", summary.verdicts),
        ("dead letters", summary.dlq),
        ("unaccounted", outcome.pending),
        ("duplicate verdicts", outcome.duplicate_verdicts),
        *((f"label {label}", count) for label, count in sorted(summary.by_label.items())),
        ("verdicts/s end to end", f"{summary.eps:.1f}"),
        ("p50 produce→verdict ms", f"{summary.p50_ms:.1f}"),
        ("p99 produce→verdict ms", f"{summary.p99_ms:.1f}"),
        ("true unsafe share (load generator)", f"{truth.true_unsafe_share:.3f}"),
        ("served unsafe share", f"{truth.served_unsafe_share:.3f} ({truth.ratio:.2f}× the true share)"),
        ("agreement with the generator's labels", f"{truth.agreement:.3f}"),
        *((f"decided by the {stage} guard", count) for stage, count in sorted(stages.items())),
        *(analysis_rows(flagged, analyses) if waits_for_analyses else ()),
    ):
        table.add_row(name, str(value))
    console.print(table)
    kinds = sorted({letter.kind for letter in outcome.dead_letters.values()})
    console.print(f"dead-letter kinds: {', '.join(kinds) or 'none'}; worker log: {worker.log_path}")
    line = summary.line()
    if summary_file is not None:
        summary_file.parent.mkdir(parents=True, exist_ok=True)
        summary_file.write_text(line + "\n", encoding="utf-8")
    print(line)
    if outcome.pending:
        raise typer.Exit(1)


def _run_streaming(streams: int, seed: int, chunk_interval_ms: float, timeout: float) -> None:
    from rich.console import Console

    from devtools.demo.streaming import run_streaming_demo
    from guardstream.paths import runtime_dir
    from guardstream.settings import load_settings
    from guardstream.telemetry import configure_logging

    configure_logging("WARNING")
    console = Console()
    settings = load_settings()
    if not run_streaming_demo(settings, streams, seed, chunk_interval_ms, timeout, runtime_dir() / "logs", console):
        console.print("[red]not every stream got its final verdict in time; see the stream worker's log in .run/logs")
        raise typer.Exit(1)
