"""A tiny OTLP/HTTP receiver for tests: accepts POST /v1/traces and /v1/metrics (protobuf).

It decodes each request with the OTLP message classes, as a collector would, and keeps what
arrived, so tests check exported telemetry end to end over real HTTP.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span


@dataclass
class Received:
    spans: list[Span] = field(default_factory=list)
    resource_attributes: list[dict[str, str]] = field(default_factory=list)
    metric_names: set[str] = field(default_factory=set)
    sums: dict[str, float] = field(default_factory=dict)
    """The last value of each sum metric, over its data points."""
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(path, content type) of every request."""
    headers: list[dict[str, str]] = field(default_factory=list)
    """Every request's headers, names in lower case."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, condition: Callable[[Received], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if condition(self):
                    return True
            time.sleep(0.1)
        with self.lock:
            return condition(self)


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, Received]]:
    """Yields the endpoint (``http://127.0.0.1:<port>``) and what has arrived so far."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with received.lock:
                received.requests.append((self.path, self.headers.get("Content-Type", "")))
                received.headers.append({name.lower(): value for name, value in self.headers.items()})
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest.FromString(body)
                    for resource_spans in request.resource_spans:
                        received.resource_attributes.append(_attributes(resource_spans.resource.attributes))
                        for scope_spans in resource_spans.scope_spans:
                            received.spans.extend(scope_spans.spans)
                    reply = ExportTraceServiceResponse().SerializeToString()
                elif self.path == "/v1/metrics":
                    metrics = ExportMetricsServiceRequest.FromString(body)
                    for resource_metrics in metrics.resource_metrics:
                        for scope_metrics in resource_metrics.scope_metrics:
                            for metric in scope_metrics.metrics:
                                received.metric_names.add(metric.name)
                                if metric.HasField("sum"):
                                    received.sums[metric.name] = sum(
                                        point.as_int or point.as_double for point in metric.sum.data_points
                                    )
                    reply = ExportMetricsServiceResponse().SerializeToString()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def _attributes(pairs: Any) -> dict[str, str]:
    return {pair.key: pair.value.string_value for pair in pairs}
