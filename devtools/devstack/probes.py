"""Cheap readiness probes: is a TCP port taken, does an HTTP endpoint answer 200."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def busy_ports(host: str, ports: tuple[int, ...]) -> list[int]:
    """The ports of ``ports`` on which something already listens."""
    return [port for port in ports if port_open(host, port)]


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    """True if a GET of ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
