"""Login rate limits: failures per (IP, username) and per IP, in a sliding window.

Kept in the process: with several app instances behind a balancer each enforces its own limit,
so the effective limit is at most ``instances ×`` the configured one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class LoginRateLimiter:
    def __init__(
        self, max_failures: int, max_failures_per_ip: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_failures
        self._max_ip = max_failures_per_ip
        self._window = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, ip: str, username: str) -> float:
        """Seconds until a login from ``ip`` for ``username`` may be tried again; 0 when allowed."""
        now = self._clock()
        with self._lock:
            waits = [
                self._wait(("pair", f"{ip}\x00{username.casefold()}"), self._max, now),
                self._wait(("ip", ip), self._max_ip, now),
            ]
        return max(waits)

    def failed(self, ip: str, username: str) -> None:
        now = self._clock()
        with self._lock:
            for key in (("pair", f"{ip}\x00{username.casefold()}"), ("ip", ip)):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, ip: str, username: str) -> None:
        with self._lock:
            self._failures.pop(("pair", f"{ip}\x00{username.casefold()}"), None)

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> float:
        stamps = self._failures.get(key)
        if not stamps:
            return 0.0
        while stamps and stamps[0] <= now - self._window:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
            return 0.0
        if len(stamps) < limit:
            return 0.0
        return stamps[-limit] + self._window - now
