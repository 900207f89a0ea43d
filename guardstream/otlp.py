"""OTLP/HTTP exporters (protobuf encoding) for the OpenTelemetry SDK's spans and metrics.

The project's gRPC Triton client pins protobuf below 5, while the OpenTelemetry exporter packages
that match SDK 1.45 need protobuf 5 or later. So the encoding lives here, over the OTLP message
classes of ``opentelemetry-proto`` 1.27 (the last release on protobuf 4); the wire format is the
stable OTLP v1, which every collector accepts at ``<endpoint>/v1/traces`` and ``/v1/metrics``.
When the Triton client allows protobuf 5, ``opentelemetry-exporter-otlp-proto-http`` replaces this
module one for one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ProtoResource
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope as SdkScope

log = logging.getLogger(__name__)

_CONTENT_TYPE = {"Content-Type": "application/x-protobuf"}


def parse_headers(text: str | None) -> dict[str, str]:
    """``key=value,key=value`` (the OTEL_EXPORTER_OTLP_HEADERS format) as a dict."""
    headers: dict[str, str] = {}
    for item in (text or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[key.strip()] = value.strip()
    return headers


class _Poster:
    """POSTs one encoded request; failures are logged once per change of cause, never raised."""

    def __init__(self, url: str, headers: Mapping[str, str], timeout_s: float) -> None:
        self.url = url
        self._client = httpx.Client(headers={**_CONTENT_TYPE, **headers}, timeout=timeout_s)
        self._last_problem: str | None = None

    def post(self, body: bytes) -> bool:
        try:
            response = self._client.post(self.url, content=body)
            problem = None if response.status_code < 300 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem != self._last_problem:
            if problem:
                log.warning("OTLP export to %s failing: %s", self.url, problem)
            else:
                log.info("OTLP export to %s recovered", self.url)
            self._last_problem = problem
        return problem is None

    def close(self) -> None:
        self._client.close()


class OtlpSpanExporter(SpanExporter):
    def __init__(self, endpoint: str, headers: Mapping[str, str] | None = None, timeout_s: float = 10.0) -> None:
        self._poster = _Poster(endpoint.rstrip("/") + "/v1/traces", headers or {}, timeout_s)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        body = encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS if self._poster.post(body) else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._poster.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class OtlpMetricExporter(MetricExporter):
    def __init__(self, endpoint: str, headers: Mapping[str, str] | None = None, timeout_s: float = 10.0) -> None:
        super().__init__()
        self._poster = _Poster(endpoint.rstrip("/") + "/v1/metrics", headers or {}, timeout_s)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        body = encode_metrics(metrics_data).SerializeToString()
        return MetricExportResult.SUCCESS if self._poster.post(body) else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._poster.close()


# ── encoding ─────────────────────────────────────────────────────────────────────────────────
def encode_spans(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    # Grouped by identity: hashing a Resource serialises its attributes to JSON, per span.
    grouped: dict[int, dict[int, list[trace_pb2.Span]]] = defaultdict(lambda: defaultdict(list))
    resources: dict[int, Resource | None] = {}
    scopes: dict[int, SdkScope | None] = {}
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope
        resources[id(resource)], scopes[id(scope)] = resource, scope
        grouped[id(resource)][id(scope)].append(_span(span))
    request = ExportTraceServiceRequest()
    for resource_key, by_scope in grouped.items():
        resource_spans = request.resource_spans.add(resource=_resource(resources[resource_key]))
        for scope_key, encoded in by_scope.items():
            resource_spans.scope_spans.add(scope=_scope(scopes[scope_key]), spans=encoded)
    return request


def _span(span: ReadableSpan) -> trace_pb2.Span:
    context = span.context
    assert context is not None
    parent = span.parent
    return trace_pb2.Span(
        trace_id=context.trace_id.to_bytes(16, "big"),
        span_id=context.span_id.to_bytes(8, "big"),
        trace_state=context.trace_state.to_header() if context.trace_state else "",
        parent_span_id=parent.span_id.to_bytes(8, "big") if parent is not None else b"",
        flags=int(context.trace_flags) | (0x100 | (0x200 if parent is not None and parent.is_remote else 0)),
        name=span.name,
        kind=trace_pb2.Span.SpanKind.ValueType(
            span.kind.value + 1
        ),  # the SDK counts from INTERNAL=0, OTLP from UNSPECIFIED=0
        start_time_unix_nano=span.start_time or 0,
        end_time_unix_nano=span.end_time or 0,
        attributes=_attributes(span.attributes),
        dropped_attributes_count=span.dropped_attributes,
        events=[
            trace_pb2.Span.Event(
                time_unix_nano=event.timestamp, name=event.name, attributes=_attributes(event.attributes)
            )
            for event in span.events
        ],
        dropped_events_count=span.dropped_events,
        links=[
            trace_pb2.Span.Link(
                trace_id=link.context.trace_id.to_bytes(16, "big"),
                span_id=link.context.span_id.to_bytes(8, "big"),
                attributes=_attributes(link.attributes),
                flags=int(link.context.trace_flags) | 0x100 | (0x200 if link.context.is_remote else 0),
            )
            for link in span.links
        ],
        dropped_links_count=span.dropped_links,
        status=trace_pb2.Status(
            code=trace_pb2.Status.StatusCode.ValueType(span.status.status_code.value),
            message=span.status.description or "",
        ),
    )


def encode_metrics(data: MetricsData) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    for resource_metrics in data.resource_metrics:
        encoded = request.resource_metrics.add(resource=_resource(resource_metrics.resource))
        encoded.schema_url = resource_metrics.schema_url or ""
        for scope_metrics in resource_metrics.scope_metrics:
            scope = encoded.scope_metrics.add(scope=_scope(scope_metrics.scope))
            scope.schema_url = scope_metrics.schema_url or ""
            for metric in scope_metrics.metrics:
                converted = _metric(metric.name, metric.description or "", metric.unit or "", metric.data)
                if converted is not None:
                    scope.metrics.append(converted)
    return request


def _metric(name: str, description: str, unit: str, data: object) -> metrics_pb2.Metric | None:
    metric = metrics_pb2.Metric(name=name, description=description, unit=unit)
    if isinstance(data, Sum):
        metric.sum.aggregation_temporality = metrics_pb2.AggregationTemporality.ValueType(
            data.aggregation_temporality.value
        )
        metric.sum.is_monotonic = data.is_monotonic
        metric.sum.data_points.extend(_number_point(point) for point in data.data_points)
    elif isinstance(data, Gauge):
        metric.gauge.data_points.extend(_number_point(point) for point in data.data_points)
    elif isinstance(data, Histogram):
        metric.histogram.aggregation_temporality = metrics_pb2.AggregationTemporality.ValueType(
            data.aggregation_temporality.value
        )
        for point in data.data_points:
            metric.histogram.data_points.add(
                attributes=_attributes(point.attributes),
                start_time_unix_nano=point.start_time_unix_nano,
                time_unix_nano=point.time_unix_nano,
                count=point.count,
                sum=point.sum,
                bucket_counts=list(point.bucket_counts),
                explicit_bounds=list(point.explicit_bounds),
                min=point.min,
                max=point.max,
            )
    else:  # exponential histograms: none of our instruments uses them
        log.debug("metric %s: %s is not exported over OTLP", name, type(data).__name__)
        return None
    return metric


def _number_point(point: Any) -> metrics_pb2.NumberDataPoint:
    encoded = metrics_pb2.NumberDataPoint(
        attributes=_attributes(point.attributes),
        start_time_unix_nano=point.start_time_unix_nano or 0,
        time_unix_nano=point.time_unix_nano,
    )
    if isinstance(point.value, int):
        encoded.as_int = point.value
    else:
        encoded.as_double = float(point.value)
    return encoded


def _resource(resource: Resource | None) -> ProtoResource:
    return ProtoResource(attributes=_attributes(resource.attributes if resource is not None else None))


def _scope(scope: SdkScope | None) -> InstrumentationScope:
    if scope is None:
        return InstrumentationScope()
    return InstrumentationScope(name=scope.name, version=scope.version or "")


def _attributes(attributes: Mapping[str, Any] | None) -> list[KeyValue]:
    return [KeyValue(key=key, value=_value(value)) for key, value in (attributes or {}).items()]


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[_value(item) for item in value]))
    return AnyValue(string_value=str(value))
