"""A small HTTP server beside the worker loop: /healthz, /readyz and /metrics.

stdlib ``http.server`` in a daemon thread: it only reads snapshots (the health states, the
metrics registry), so the hot path never waits on a scrape.

- ``GET /healthz``: 200 while the worker loop is turning (liveness), else 503.
- ``GET /readyz``: 200 once the consumer has joined its group and no dependency is degraded, else
  503; the JSON body names each dependency's state and, for degraded ones, the cause.
- ``GET /metrics``: Prometheus text exposition.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from guardstream.errors import ConfigurationError
from workers.moderation.health import Health

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StatusServer:
    def __init__(
        self,
        host: str,
        port: int,
        health: Health,
        metrics_text: Callable[[], bytes],
        liveness_timeout_s: float,
    ) -> None:
        handler = _handler(health, metrics_text, liveness_timeout_s)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve health and metrics on {host}:{port}: {exc.strerror or exc}; choose another port "
                "with --metrics-port or GUARDSTREAM_TELEMETRY__METRICS_PORT (0 turns the server off)"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="status-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("health and metrics at http://%s:%d (/healthz /readyz /metrics)", *self._server.server_address[:2])

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


def _handler(
    health: Health, metrics_text: Callable[[], bytes], liveness_timeout_s: float
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "guardstream-worker"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._json(*health.liveness(liveness_timeout_s))
            elif path == "/readyz":
                self._json(*health.readiness())
            elif path == "/metrics":
                self._send(200, PROMETHEUS_CONTENT_TYPE, metrics_text())
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /healthz, /readyz or /metrics\n")

        def _json(self, ok: bool, body: dict[str, Any]) -> None:
            self._send(200 if ok else 503, "application/json", json.dumps(body, ensure_ascii=False).encode() + b"\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
