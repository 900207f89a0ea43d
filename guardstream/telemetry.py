"""Telemetry set-up for entry points: logging, and OpenTelemetry traces and metrics.

Libraries only call ``logging.getLogger(__name__)`` and use the meter and tracer they are handed.
:func:`setup_telemetry` builds the SDK providers (no global state, so tests may build several):

- metrics are always readable as Prometheus text (:meth:`Telemetry.prometheus_text`), and pushed
  over OTLP/HTTP when an endpoint is configured;
- spans are recorded only when an OTLP endpoint is configured (nobody could read them otherwise),
  sampled parent-based: an event's producer decides, ``trace_sample_ratio`` decides for the rest.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.logging import RichHandler

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer
    from prometheus_client import CollectorRegistry

    from guardstream.settings import TelemetrySettings

OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"


def configure_logging(level: str = "INFO") -> None:
    """Key=value log lines on stderr: through rich on a terminal, plain lines into a log file."""
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(show_path=False, rich_tracebacks=True)
        handler.setFormatter(logging.Formatter("%(name)s %(message)s", datefmt="%H:%M:%S"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per schema registry request otherwise


@dataclass
class Telemetry:
    """The providers of one process; ``tracer`` is None while spans would have nowhere to go."""

    meter: Meter
    tracer: Tracer | None
    otlp_endpoint: str | None
    _meter_provider: MeterProvider
    _tracer_provider: TracerProvider | None
    _registry: CollectorRegistry

    def prometheus_text(self) -> bytes:
        """Every metric in the Prometheus text exposition format (what /metrics serves)."""
        from prometheus_client import generate_latest

        return generate_latest(self._registry)

    def shutdown(self) -> None:
        """Flush what is buffered (spans, a last metrics push) and stop the exporters."""
        if self._tracer_provider is not None:
            self._tracer_provider.shutdown()
        self._meter_provider.shutdown()


class _RepeatThrottle(logging.Filter):
    """Lets one line that starts with one of ``prefixes`` through per interval, saying how many it
    held back since the last one."""

    def __init__(self, prefixes: tuple[str, ...], hint: str, interval_s: float = 60.0) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._hint = hint
        self._interval_s = interval_s
        self._next_at = 0.0
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self._prefixes):
            return True
        now = time.monotonic()
        if now < self._next_at:
            self._suppressed += 1
            return False
        if self._suppressed:
            record.msg = f"{record.msg} ({self._suppressed} more since the last report; {self._hint})"
        self._suppressed = 0
        self._next_at = now + self._interval_s
        return True


_COLLECTOR_AWAY = (("Transient error", "Failed to export"), "is the OTLP collector reachable?")
_THROTTLED = {
    # one warning per dropped span when the export queue is full: thousands a second under overload
    "opentelemetry.sdk._shared_internal": (("Queue full",), "lower the sample ratio"),
    # a warning per retry and an error per lost batch while the collector is away
    "opentelemetry.exporter.otlp.proto.http.trace_exporter": _COLLECTOR_AWAY,
    "opentelemetry.exporter.otlp.proto.http.metric_exporter": _COLLECTOR_AWAY,
}


def _throttle_repeated_sdk_lines() -> None:
    for logger_name, (prefixes, hint) in _THROTTLED.items():
        logger = logging.getLogger(logger_name)
        if not any(isinstance(f, _RepeatThrottle) for f in logger.filters):
            logger.addFilter(_RepeatThrottle(prefixes, hint))


def setup_telemetry(settings: TelemetrySettings, instance_id: str) -> Telemetry:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    from opentelemetry.util.re import parse_env_headers
    from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

    resource = Resource.create({"service.name": settings.service_name, "service.instance.id": instance_id})
    registry = CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    readers: list[MetricReader] = [PrometheusMetricReader(registry=registry)]
    endpoint = settings.otlp_endpoint or os.environ.get(OTLP_ENDPOINT_ENV) or None
    # The exporters add OTEL_EXPORTER_OTLP_HEADERS themselves; these win on the same header.
    headers = (
        parse_env_headers(settings.otlp_headers.get_secret_value(), liberal=True) if settings.otlp_headers else None
    )
    if endpoint:
        _throttle_repeated_sdk_lines()
        readers.append(
            PeriodicExportingMetricReader(
                OTLPMetricExporter(_signal_url(endpoint, "metrics"), headers=headers, timeout=settings.otlp_timeout_s),
                export_interval_millis=settings.metric_export_interval_s * 1000,
            )
        )
    meter_provider = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False)
    tracer_provider = None
    tracer = None
    if endpoint:
        tracer_provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
            resource=resource,
            shutdown_on_exit=False,
        )
        span_exporter = OTLPSpanExporter(
            _signal_url(endpoint, "traces"), headers=headers, timeout=settings.otlp_timeout_s
        )
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter, max_queue_size=8192))
        tracer = tracer_provider.get_tracer("guardstream")
    logging.getLogger(__name__).info(
        "telemetry: metrics at /metrics%s; otlp=%s", "" if settings.metrics_port else " (server off)", endpoint or "off"
    )
    return Telemetry(
        meter=meter_provider.get_meter("guardstream"),
        tracer=tracer,
        otlp_endpoint=endpoint,
        _meter_provider=meter_provider,
        _tracer_provider=tracer_provider,
        _registry=registry,
    )


def _signal_url(endpoint: str, signal: str) -> str:
    """``<endpoint>/v1/traces`` or ``/v1/metrics``: where an OTLP/HTTP collector takes a signal."""
    return f"{endpoint.rstrip('/')}/v1/{signal}"


def wall_clock_ns(monotonic_s: float, now_monotonic_s: float | None = None) -> int:
    """A ``time.monotonic()`` reading as Unix nanoseconds (span start and end times)."""
    now = time.monotonic() if now_monotonic_s is None else now_monotonic_s
    return time.time_ns() - int((now - monotonic_s) * 1e9)


def format_traceparent(trace_id: int, span_id: int, sampled: bool) -> str:
    """A W3C ``traceparent`` header value (version 00)."""
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


def parse_traceparent(value: str) -> tuple[int, int, int] | None:
    """``(trace_id, span_id, flags)`` of a version-00 ``traceparent``; None if it is not one."""
    parts = value.split("-")
    if len(parts) != 4 or parts[0] != "00" or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    return (trace_id, span_id, flags) if trace_id and span_id else None
