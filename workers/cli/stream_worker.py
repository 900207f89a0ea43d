"""``guardstream stream-worker``: moderate streamed LLM replies chunk by chunk until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import threading
from typing import Any

import typer

from workers.role_check import CHECK_HELP


def run_stream_worker(
    worker_id: str = typer.Option(
        None, help="Stable name of this instance (default: the host name); names its Kafka transactional id."
    ),
    log_level: str = typer.Option("INFO", help="Log level: DEBUG, INFO, WARNING or ERROR."),
    check: bool = typer.Option(False, "--check", help=CHECK_HELP),
) -> None:
    """Read reply chunks (moderation.reply-chunks), give each a provisional decision, and each reply one final verdict.

    Every chunk gets a StreamVerdict on moderation.stream-verdicts: continue, hold or stop, with how
    many characters a client may show. The policy's `streaming` section chooses the stream model
    (fast or generative), the debounce and the hold-back. At a reply's last chunk the whole reply is
    judged once: its verdict goes to the audit store and moderation.verdicts like any event's, and a
    provisional action it contradicts is retracted with a StreamRetraction, never changed silently.
    Each stream's progress is kept in a compacted changelog (moderation.stream-state, created when
    missing), written in the same Kafka transaction as the outputs and the input offsets, so a worker
    killed at any point resumes without losing or doubling a verdict. SIGTERM finishes the cycle at
    hand and exits.
    """
    from guardstream.errors import GuardstreamError
    from guardstream.settings import load_settings
    from guardstream.telemetry import configure_logging
    from workers.streaming.app import build_stream_worker

    configure_logging(log_level)
    overrides: dict[str, Any] = {"worker": {"worker_id": worker_id}} if worker_id else {}
    if check:
        from workers.role_check import check_role

        check_role("stream-worker", lambda: load_settings(**overrides))
    try:
        settings = load_settings(**overrides)
        worker = build_stream_worker(settings)
    except GuardstreamError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.run(stop)
