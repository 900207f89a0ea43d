"""``--check`` of a role (worker, stream-worker, analysis, review, escalation agent): can it start here?

Each probe reaches one dependency the role needs with its real settings, briefly, and says what it
found or why not: Kafka (the brokers answer, and the role's topics exist), the audit store (a
connection and ``SELECT 1``), Triton (the server is live, and the role's models are ready). A deployment
runs it before starting the role (an init container, a compose healthcheck, by hand); it exits 0 when
every probe passed, 1 when one failed, naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import typer

from guardstream.errors import GuardstreamError

if TYPE_CHECKING:  # importing this module stays cheap: `guardstream --help` imports it
    from guardstream.settings import AuditSettings, KafkaSettings, Settings, TritonSettings


@dataclass(frozen=True)
class ProbeResult:
    name: str
    ok: bool
    detail: str


Probe = Callable[[], str]
"""Reaches one dependency: returns what it found, raises what went wrong."""


def kafka_probe(kafka: KafkaSettings, topics: Sequence[str], timeout_s: float = 10.0) -> Probe:
    def probe() -> str:
        from workers.kafka_clients import build_settings_admin_client, check_connection

        brokers = check_connection(kafka, timeout_s)
        existing = set(build_settings_admin_client(kafka).list_topics(timeout=timeout_s).topics)
        missing = [topic for topic in topics if topic not in existing]
        if missing:
            raise GuardstreamError(f"topics missing on {kafka.bootstrap_servers}: {', '.join(missing)}")
        return f"{brokers} broker(s) at {kafka.bootstrap_servers}; topics {', '.join(topics)}"

    return probe


def audit_probe(audit: AuditSettings) -> Probe:
    def probe() -> str:
        from sqlalchemy import text

        from guardstream.audit.engine import build_engine

        engine = build_engine(audit.url)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        return engine.url.render_as_string(hide_password=True)

    return probe


def triton_probe(triton: TritonSettings, models: Sequence[str]) -> Probe:
    def probe() -> str:
        from workers.triton_client import build_grpc_client

        client = build_grpc_client(triton)
        try:
            # Liveness, not server readiness: under strict readiness the server reads "not ready" while
            # any model loads or failed to, and this role needs only its own models.
            if not client.is_server_live():
                raise GuardstreamError(f"Triton at {triton.grpc_url} is not live")
            absent = [model for model in models if model and not client.is_model_ready(model)]
        finally:
            client.close()
        if absent:
            raise GuardstreamError(f"models not ready on Triton at {triton.grpc_url}: {', '.join(absent)}")
        return f"{triton.grpc_url}; models {', '.join(model for model in models if model)}"

    return probe


def run_probes(probes: dict[str, Probe]) -> list[ProbeResult]:
    results = []
    for name, probe in probes.items():
        try:
            results.append(ProbeResult(name, True, probe()))
        except Exception as exc:  # any failure of a dependency is the answer, not a crash
            results.append(ProbeResult(name, False, f"{type(exc).__name__}: {exc}"))
    return results


def report_and_exit(role: str, probes: dict[str, Probe]) -> NoReturn:
    """Run the probes, print one line each, exit 0 if all passed, else 1."""
    results = run_probes(probes)
    for result in results:
        typer.echo(f"{'ok' if result.ok else 'FAILED'} {result.name}: {result.detail}", err=not result.ok)
    failed = [result.name for result in results if not result.ok]
    if failed:
        typer.echo(f"{role}: cannot start: {', '.join(failed)}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{role}: ready to start")
    raise typer.Exit(0)


CHECK_HELP = "Check that this role can start (settings, Kafka and its topics, the audit store, Triton and its models), print what was found, exit 0 or 1."


def role_probes(role: str, settings: Settings) -> dict[str, Probe]:
    """What each role needs reachable before it starts."""
    topics, triton = settings.topics, settings.triton
    audit = {"audit store": audit_probe(settings.audit)}
    if role == "worker":
        models = [triton.model_name, triton.fast_model_name]
        if settings.analysis.enabled:
            models.append(triton.explain_model_name)
        return {
            "kafka": kafka_probe(settings.kafka, [topics.chat_events, topics.verdicts, topics.flagged, topics.dlq]),
            **audit,
            "triton": triton_probe(triton, models),
        }
    if role == "stream-worker":
        streams = settings.streams
        return {
            "kafka": kafka_probe(
                settings.kafka, [topics.reply_chunks, topics.stream_verdicts, topics.verdicts, topics.dlq]
            ),
            **audit,
            "triton": triton_probe(triton, [streams.fast_model_name, streams.generative_model_name, triton.model_name]),
        }
    if role == "analysis":
        return {
            "kafka": kafka_probe(settings.kafka, [topics.flagged, topics.analyses, topics.dlq]),
            **audit,
            "triton": triton_probe(triton, [triton.explain_model_name]),
        }
    if role == "review":
        return {"kafka": kafka_probe(settings.kafka, [topics.feedback]), **audit}
    if role == "escalation":
        return {"kafka": kafka_probe(settings.kafka, [topics.verdicts, topics.actions])}
    raise ValueError(f"unknown role {role!r}")


def check_role(role: str, settings: Callable[[], Settings]) -> NoReturn:
    """``--check``: load the settings (a bad one fails the check), probe what ``role`` needs, exit."""
    try:
        loaded = settings()
    except GuardstreamError as exc:
        report_and_exit(role, {"settings": _raise(exc)})
    report_and_exit(role, {"settings": lambda: "loaded", **role_probes(role, loaded)})


def _raise(exc: Exception) -> Probe:
    def probe() -> str:
        raise exc

    return probe
