"""What the windows agent does with one keyed verdict, over a table-like mapping.

The table (a faust ``Table`` in the agent, a dict in unit tests) holds, per partition ``p`` of the
keyed topic:

* ``user:<id>`` / ``conversation:<id>`` → :class:`~workers.escalation.engine.KeyState` as JSON;
* ``__stream__:<p>`` → stream time (largest event time seen), stored when it crosses a window
  close boundary, the only moments that change which windows are closed;
* ``__late__:<p>`` → verdicts dropped because every window they belonged to had closed.

Order of one step (``process``): count the verdict → fire the key's eager rules → judge the key's
closed rate windows → forget its closed windows → write the key's state → if stream time crossed a
close boundary, do the same for every key of the partition → write stream time last. A window is
marked fired only after its action's acknowledgement; ids already out (read from the actions topic
after each assignment) are never produced again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from guardstream.errors import GuardstreamError
from guardstream.records import Action, Verdict
from guardstream.serde import decode_record
from workers.escalation.engine import (
    SCOPES,
    Firing,
    KeyState,
    Scope,
    closing_firings,
    crosses_close_boundary,
    drop_closed,
    eager_firings,
    mark_fired,
    observations,
    observe,
    to_action,
)
from workers.escalation.rules import RuleSet
from workers.retry import Backoff

logger = logging.getLogger(__name__)

STREAM_PREFIX = "__stream__:"
LATE_PREFIX = "__late__:"
SOURCE_HEADER = "guardstream-source"
NO_TIME = -(2**62)

Publish = Callable[[Action], Awaitable[None]]


def source_header(partition: int, offset: int) -> bytes:
    """Where a verdict sits in the verdicts topic, carried to the keyed topic for de-duplication."""
    return f"{partition}:{offset}".encode()


def parse_source_header(value: bytes) -> tuple[int, int]:
    partition, _, offset = value.decode().partition(":")
    return int(partition), int(offset)


@dataclass(slots=True)
class Metrics:
    """Counters of one agent process, logged periodically."""

    observed: int = 0
    duplicates: int = 0
    late: int = 0
    late_windows: int = 0
    undecodable: int = 0
    actions: int = 0
    already_out: int = 0

    def line(self) -> str:
        return " ".join(f"{name}={getattr(self, name)}" for name in self.__slots__)


class WindowProcessor:
    """Applies the rules to keyed verdicts; state lives in ``table`` (see the module docstring)."""

    def __init__(
        self,
        ruleset: RuleSet,
        table: MutableMapping[str, Any],
        publish: Publish,
        *,
        clock_ms: Callable[[], int] | None = None,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 10.0,
    ) -> None:
        self.ruleset = ruleset
        self.table = table
        self.metrics = Metrics()
        self.already_out: set[str] = set()
        self._publish = publish
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._stream_time: dict[int, int] = {}
        self._retry = (retry_initial_s, retry_max_s)

    def reset_after_assignment(self, already_out: Iterable[str]) -> None:
        """After a rebalance: forget cached stream times; these action ids are already out."""
        self._stream_time.clear()
        self.already_out.update(already_out)

    def stream_time(self, partition: int) -> int:
        cached = self._stream_time.get(partition)
        if cached is None:
            cached = self._stream_time[partition] = int(self.table.get(f"{STREAM_PREFIX}{partition}") or NO_TIME)
        return cached

    async def process(self, table_key: str, value: bytes, source: tuple[int, int], partition: int) -> None:
        """Handle one record of the keyed topic (key ``<scope>:<id>``, value a Verdict)."""
        scope_name, _, key = table_key.partition(":")
        if scope_name not in SCOPES:
            logger.error("keyed record with an unknown scope key=%r partition=%d", table_key, partition)
            self.metrics.undecodable += 1
            return
        scope: Scope = scope_name
        try:
            verdict = decode_record(Verdict, value)
        except GuardstreamError as exc:
            logger.error("undecodable verdict key=%r partition=%d: %s", table_key, partition, exc)
            self.metrics.undecodable += 1
            return
        obs = next(o for o in observations(verdict, *source) if o.scope == scope)
        old_time = self.stream_time(partition)
        raw = self.table.get(table_key)
        state = KeyState.from_json(raw) if raw else KeyState(partition=partition)
        outcome = observe(state, obs, self.ruleset, old_time)
        self.metrics.observed += 1
        if outcome.duplicate:
            self.metrics.duplicates += 1
        self.metrics.late_windows += outcome.late_windows
        if outcome.late:
            self.metrics.late += 1
            late_key = f"{LATE_PREFIX}{partition}"
            self.table[late_key] = int(self.table.get(late_key) or 0) + 1
            logger.debug("late verdict event_id=%s scope=%s key=%s", obs.event_id, scope, key)
        new_time = max(old_time, obs.event_time_ms)
        self._stream_time[partition] = new_time
        await self._settle(table_key, scope, key, state, new_time)
        if crosses_close_boundary(old_time, new_time, self.ruleset):
            await self.close_windows(partition, new_time, skip=table_key)
            self.table[f"{STREAM_PREFIX}{partition}"] = new_time

    async def close_windows(self, partition: int, stream_time_ms: int, skip: str | None = None) -> None:
        """Judge and forget the closed windows of every key of ``partition``."""
        for table_key in [k for k in list(self.table.keys()) if not k.startswith("__") and k != skip]:
            raw = self.table.get(table_key)
            if not raw or raw.get("p") != partition:
                continue
            scope, _, key = table_key.partition(":")
            await self._settle(table_key, scope, key, KeyState.from_json(raw), stream_time_ms)  # type: ignore[arg-type]  # scope was checked against SCOPES above

    async def _settle(self, table_key: str, scope: Scope, key: str, state: KeyState, stream_time_ms: int) -> None:
        firings = eager_firings(state, self.ruleset, scope, key)
        firings += closing_firings(state, self.ruleset, scope, key, stream_time_ms)
        for firing in firings:
            await self._fire(firing)
            mark_fired(state, firing)
        drop_closed(state, self.ruleset, stream_time_ms)
        if state.windows:
            self.table[table_key] = state.to_json()
        elif table_key in self.table:
            del self.table[table_key]

    async def _fire(self, firing: Firing) -> None:
        if firing.action_id in self.already_out:
            self.metrics.already_out += 1
            logger.info("action already out action_id=%s rule=%s key=%s", firing.action_id, firing.rule.id, firing.key)
            return
        action = to_action(firing, self._clock_ms())
        backoff = Backoff(*self._retry)
        while True:
            try:
                await self._publish(action)
                break
            except GuardstreamError as exc:
                delay = backoff.next_delay()
                logger.warning("action not produced, retrying in %.1fs action_id=%s: %s", delay, action.action_id, exc)
                await asyncio.sleep(delay)
        self.already_out.add(action.action_id)
        self.metrics.actions += 1
