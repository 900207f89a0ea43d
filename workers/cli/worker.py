"""``guardstream worker``: run one moderation worker until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
from typing import Any

import typer

from workers.role_check import CHECK_HELP


def run_worker(
    worker_id: str = typer.Option(
        None, help="Stable name of this instance (default: the host name); names its Kafka transactional id."
    ),
    metrics_port: int = typer.Option(
        None,
        min=0,
        max=65535,
        help="Port of /healthz, /readyz and /metrics (default: telemetry.metrics_port, 9464); 0 turns them off. "
        "Give each worker on a host its own.",
    ),
    log_level: str = typer.Option("INFO", help="Log level: DEBUG, INFO, WARNING or ERROR."),
    check: bool = typer.Option(False, "--check", help=CHECK_HELP),
) -> None:
    """Consume chat events, ask the guard model in micro-batches, produce verdicts exactly once.

    Verdicts go to moderation.verdicts (unsafe and uncertain ones also to moderation.flagged),
    inputs that cannot be processed to moderation.dlq with the reason; every verdict and dead
    letter is recorded in the audit store before its offsets commit. SIGTERM drains in-flight
    work, commits it and exits.

    Unless analysis.enabled is false (GUARDSTREAM_ANALYSIS__ENABLED=false), a second thread
    explains every flagged verdict after it was committed (see `guardstream analysis`).

    A worker whose consumer delivers nothing it should for worker.stall_timeout_s (90 s) while
    Kafka answers (no assignment, or no record though its partitions hold some past its position)
    starts again in place with a new consumer: librdkafka was seen doing both after a broker restart.

    While it runs, GET /healthz (the loop is turning), /readyz (joined the consumer group and no
    dependency degraded; 503 with the causes otherwise) and /metrics (Prometheus text) answer on
    the metrics port. With OTEL_EXPORTER_OTLP_ENDPOINT (or telemetry.otlp_endpoint) set, traces
    and metrics are also pushed over OTLP/HTTP.
    """
    from guardstream.errors import GuardstreamError
    from guardstream.settings import load_settings
    from guardstream.telemetry import configure_logging, setup_telemetry
    from workers.analysis.app import AnalysisRunner, build_analysis_loop
    from workers.moderation.app import build_worker, start_status_server
    from workers.moderation.health import Health
    from workers.moderation.worker import ConsumerStalledError
    from workers.retry import Backoff

    configure_logging(log_level)
    overrides: dict[str, Any] = {}
    if worker_id:
        overrides["worker"] = {"worker_id": worker_id}
    if metrics_port is not None:
        overrides["telemetry"] = {"metrics_port": metrics_port}
    if check:
        from workers.role_check import check_role

        check_role("worker", lambda: load_settings(**overrides))
    server = None
    telemetry = None
    analysis = None
    try:
        try:
            settings = load_settings(**overrides)
            telemetry = setup_telemetry(settings.telemetry, settings.worker.worker_id)
            health = Health()
            server = start_status_server(settings, health, telemetry)
            worker = build_worker(settings, telemetry=telemetry, health=health)
        except GuardstreamError as exc:  # a bad setting, a broken model contract, Triton never ready
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if settings.analysis.enabled:  # verdict first, analysis after: its own thread, never in the way
            limit = settings.analysis.verdict_lag_limit
            analysis = AnalysisRunner(
                lambda: build_analysis_loop(settings, lambda: worker.behind(limit)), Backoff(1.0, 30.0)
            )
            analysis.start()

        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True
            worker.stop()
            if analysis is not None:
                analysis.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while True:
            try:
                worker.run()
                break
            except ConsumerStalledError as exc:  # raised only with nothing read left uncommitted
                if stopping:
                    break
                logging.getLogger(__name__).error("%s: starting again with a new consumer", exc)
                worker = build_worker(settings, telemetry=telemetry, health=health)
    finally:
        if analysis is not None:
            analysis.stop()
            analysis.join(settings.analysis.drain_timeout_s + 10)
        if server is not None:
            server.close()
        if telemetry is not None:
            telemetry.shutdown()
