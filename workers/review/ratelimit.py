"""Rate limits in a sliding window: failed logins (per IP and username, per IP, per account) and
explanation requests (per reviewer).

Kept in the process: with several app instances behind a balancer each enforces its own limit,
so the effective limit is at most ``instances ×`` the configured one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

_SWEEP_KEYS = 10_000
"""Past this many keys, keys whose events have all aged out are dropped (spraying made-up
usernames must not grow the process without bound)."""


class SlidingWindow:
    """At most ``limit`` events per key in any ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window_s
        self._clock = clock
        self._events: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: Hashable) -> float:
        """Seconds until one more event for ``key`` is allowed; 0 when it is."""
        now = self._clock()
        with self._lock:
            stamps = self._fresh(key, now)
            if len(stamps) < self._limit:
                return 0.0
            return stamps[-self._limit] + self._window - now

    def record(self, key: Hashable) -> None:
        now = self._clock()
        with self._lock:
            if len(self._events) >= _SWEEP_KEYS:
                for stale in [k for k, stamps in self._events.items() if stamps[-1] <= now - self._window]:
                    del self._events[stale]
            self._events.setdefault(key, deque()).append(now)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._events.pop(key, None)

    def _fresh(self, key: Hashable, now: float) -> deque[float]:
        stamps = self._events.get(key, deque())
        while stamps and stamps[0] <= now - self._window:
            stamps.popleft()
        if not stamps:
            self._events.pop(key, None)
        return stamps


class LoginRateLimiter:
    """Failed logins per (IP, username), per IP and per account: the last stops a password spray
    against one account from many addresses; a success clears only its (IP, username) count."""

    def __init__(
        self,
        max_failures: int,
        max_failures_per_ip: int,
        max_failures_per_account: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pair = SlidingWindow(max_failures, window_s, clock)
        self._ip = SlidingWindow(max_failures_per_ip, window_s, clock)
        self._account = SlidingWindow(max_failures_per_account, window_s, clock)

    def retry_after(self, ip: str, username: str) -> float:
        """Seconds until a login from ``ip`` for ``username`` may be tried again; 0 when allowed."""
        account = username.casefold()
        return max(self._pair.retry_after((ip, account)), self._ip.retry_after(ip), self._account.retry_after(account))

    def failed(self, ip: str, username: str) -> None:
        account = username.casefold()
        self._pair.record((ip, account))
        self._ip.record(ip)
        self._account.record(account)

    def succeeded(self, ip: str, username: str) -> None:
        self._pair.forget((ip, username.casefold()))
