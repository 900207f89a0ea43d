"""``guardstream worker``: run one moderation worker until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal

import typer


def run_worker(
    worker_id: str = typer.Option(
        None, help="Stable name of this instance (default: the host name); names its Kafka transactional id."
    ),
    log_level: str = typer.Option("INFO", help="Log level: DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Consume chat events, ask the guard model in micro-batches, produce verdicts exactly once.

    Verdicts go to moderation.verdicts (unsafe and uncertain ones also to moderation.flagged),
    inputs that cannot be processed to moderation.dlq with the reason; every verdict and dead
    letter is recorded in the audit store before its offsets commit. SIGTERM drains in-flight
    work, commits it and exits.
    """
    from guardstream.errors import GuardstreamError
    from guardstream.settings import load_settings
    from guardstream.telemetry import configure_logging
    from workers.moderation.app import build_worker

    configure_logging(log_level)
    try:
        overrides = {"worker": {"worker_id": worker_id}} if worker_id else {}
        settings = load_settings(**overrides)
        worker = build_worker(settings)
    except GuardstreamError as exc:  # a bad setting, a broken model contract, Triton never ready
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    worker.run()
