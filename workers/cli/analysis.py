"""``guardstream analysis``: run the analysis loop alone, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
from typing import Any

import typer

from workers.role_check import CHECK_HELP


def run_analysis(
    worker_id: str = typer.Option(
        None,
        help="Stable name of this instance (default: the host name); names its Kafka transactional id. "
        "Give it one no worker with an analysis thread uses.",
    ),
    log_level: str = typer.Option("INFO", help="Log level: DEBUG, INFO, WARNING or ERROR."),
    check: bool = typer.Option(False, "--check", help=CHECK_HELP),
) -> None:
    """Explain every flagged verdict, after it was made, exactly once.

    Reads moderation.flagged (read_committed, consumer group analysis.group_id, by default the
    workers' group + "-analysis"), asks the explain model (triton.explain_model_name) in small
    batches, records each analysis in the audit store and produces it to moderation.analyses
    together with the flagged offsets, in one Kafka transaction. A flagged verdict the model cannot
    explain still gets an analysis, saying why it is unavailable; Triton and database outages
    are retried with backoff.

    Every worker runs the same loop on a thread of its own unless analysis.enabled is false:
    run this command to scale analyses apart from verdicts.
    """
    from guardstream.errors import GuardstreamError
    from guardstream.settings import load_settings
    from guardstream.telemetry import configure_logging
    from workers.analysis.app import AnalysisRunner, build_analysis_loop
    from workers.retry import Backoff

    configure_logging(log_level)
    overrides: dict[str, Any] = {"worker": {"worker_id": worker_id}} if worker_id else {}
    if check:
        from workers.role_check import check_role

        check_role("analysis", lambda: load_settings(**overrides))
    try:
        settings = load_settings(**overrides)
    except GuardstreamError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    runner = AnalysisRunner(lambda: build_analysis_loop(settings), Backoff(1.0, 30.0))
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    signal.signal(signal.SIGINT, lambda *_: runner.stop())
    runner.run()
