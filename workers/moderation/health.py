"""What the worker knows about itself and its dependencies, for /healthz and /readyz.

Each dependency (Triton, the audit store, Kafka) is ``ok`` or ``degraded: <cause>``. A change of
state is logged once, with the cause when it degrades and the outage's length when it recovers;
retries in between stay quiet. The loop thread writes; the HTTP thread only reads snapshots.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError

log = logging.getLogger(__name__)

DEPENDENCIES = ("triton", "audit", "kafka")

# librdkafka errors (served through the consumer's error_cb) that mean Kafka cannot be reached.
_KAFKA_DOWN = {
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TRANSPORT,
    KafkaError._RESOLVE,
    KafkaError._AUTHENTICATION,
    KafkaError._SSL,
}


class Health:
    """Dependency states and the loop's heartbeat."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._causes: dict[str, str | None] = dict.fromkeys(DEPENDENCIES)
        self._since: dict[str, float] = {}
        self.last_loop_at = clock()
        self.joined = False
        """The consumer has joined its group (an assignment arrived, possibly empty)."""
        self.partitions = 0

    # The loop's view, kept as the strings older callers read (``"ok"`` / ``"degraded: …"``).
    @property
    def triton(self) -> str:
        return self.state("triton")

    @property
    def audit(self) -> str:
        return self.state("audit")

    @property
    def kafka(self) -> str:
        return self.state("kafka")

    def state(self, dependency: str) -> str:
        cause = self._causes[dependency]
        return "ok" if cause is None else f"degraded: {cause}"

    @property
    def degraded(self) -> bool:
        return any(cause is not None for cause in self._causes.values())

    def degrade(self, dependency: str, cause: str) -> None:
        if self._causes[dependency] is None:
            self._since[dependency] = self._clock()
            log.warning("dependency degraded: %s: %s", dependency, cause)
        self._causes[dependency] = cause

    def recover(self, dependency: str) -> None:
        if self._causes[dependency] is not None:
            seconds = self._clock() - self._since.pop(dependency, self._clock())
            log.warning("dependency recovered: %s after %.1fs (was: %s)", dependency, seconds, self._causes[dependency])
            self._causes[dependency] = None

    def beat(self) -> None:
        self.last_loop_at = self._clock()

    # ── the HTTP view ────────────────────────────────────────────────────────────────────────
    def liveness(self, timeout_s: float) -> tuple[bool, dict[str, Any]]:
        age = self._clock() - self.last_loop_at
        return age <= timeout_s, {"status": "alive" if age <= timeout_s else "stalled", "last_loop_s": round(age, 3)}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        causes = dict(self._causes)
        degraded = {name: cause for name, cause in causes.items() if cause is not None}
        ready = self.joined and not degraded
        body: dict[str, Any] = {
            "status": "ready" if ready else "not ready",
            "joined_group": self.joined,
            "partitions": self.partitions,
            "dependencies": {name: "ok" if cause is None else f"degraded: {cause}" for name, cause in causes.items()},
        }
        if degraded:
            body["degraded"] = degraded
        return ready, body


class KafkaWatch:
    """Kafka's state from librdkafka's error and statistics callbacks (served by the loop's polls).

    An error that means no broker can be reached degrades ``kafka``; a statistics report with a
    broker ``UP`` again recovers it. The same report carries each assigned partition's last stable
    offset, the end that ``read_committed`` consumer lag is measured against.
    """

    def __init__(self, health: Health) -> None:
        self._health = health
        self.stable_ends: dict[tuple[str, int], int] = {}
        self.committed: dict[tuple[str, int], int] = {}
        """Per partition, the committed offset librdkafka reported (before our own commits)."""

    def on_error(self, error: KafkaError) -> None:
        if error.code() in _KAFKA_DOWN:
            self._health.degrade("kafka", error.str())

    def on_stats(self, report: str) -> None:
        try:
            stats = json.loads(report)
        except ValueError:
            return
        brokers = [b for b in stats.get("brokers", {}).values() if b.get("nodeid", -1) >= 0]
        if any(b.get("state") == "UP" for b in brokers):
            self._health.recover("kafka")
        elif brokers:
            states = ", ".join(f"{b.get('name')}={b.get('state')}" for b in brokers)
            self._health.degrade("kafka", f"no broker connection ({states})")
        for topic, entry in stats.get("topics", {}).items():
            for key, partition in entry.get("partitions", {}).items():
                number = int(key)
                if number < 0:
                    continue
                end = partition.get("ls_offset", -1)
                if end is not None and end >= 0:
                    self.stable_ends[(topic, number)] = end
                committed = partition.get("committed_offset", -1)
                if committed is not None and committed >= 0:
                    self.committed[(topic, number)] = committed
