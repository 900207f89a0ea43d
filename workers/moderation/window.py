"""The ordered window of sealed batches between the consumer and the transaction.

Batches finish out of order (many are in flight), but they leave the window in the order they
were sealed: only a finished *prefix* is committed, so a committed offset never passes a record
whose verdict is not durable yet.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from workers.moderation.batch import Batch, Consumed, Part
from workers.moderation.screening import Screens


@dataclass(frozen=True, slots=True)
class PartRequest:
    batch: Batch
    part: Part
    not_before: float


class BatchWindow:
    def __init__(self, max_batches: int, max_in_flight: int) -> None:
        self._batches: deque[Batch] = deque()
        self._waiting: deque[PartRequest] = deque()
        self._max_batches = max_batches
        self._max_in_flight = max_in_flight
        self.in_flight = 0
        self._next_seq = 0

    def __len__(self) -> int:
        return len(self._batches)

    def __iter__(self) -> Iterator[Batch]:
        return iter(self._batches)

    @property
    def full(self) -> bool:
        return len(self._batches) >= self._max_batches

    def seal(self, entries: list[Consumed], now: float, screens: dict[int, Screens] | None = None) -> Batch:
        batch = Batch(self._next_seq, entries, now, screens or {})
        self._next_seq += 1
        self._batches.append(batch)
        self._waiting.extend(PartRequest(batch, part, now) for part in sorted(batch.pending_parts))
        return batch

    def schedule(self, batch: Batch, part: Part, not_before: float) -> None:
        """Queue ``part`` for (re)submission no earlier than ``not_before``."""
        self._waiting.append(PartRequest(batch, part, not_before))

    def next_wakeup(self) -> float | None:
        """The earliest time a waiting part may be submitted, if the in-flight limit allows it."""
        if not self._waiting or self.in_flight >= self._max_in_flight:
            return None
        return min(request.not_before for request in self._waiting)

    def submittable(self, now: float) -> Iterator[PartRequest]:
        """Hand out waiting parts that are due, while fewer than ``max_in_flight`` are out."""
        still_waiting: deque[PartRequest] = deque()
        while self._waiting:
            request = self._waiting.popleft()
            if self.in_flight < self._max_in_flight and request.not_before <= now:
                self.in_flight += 1
                yield request
            else:
                still_waiting.append(request)
        self._waiting = still_waiting

    def returned(self) -> None:
        """A submitted part came back (finished, failed or abandoned)."""
        self.in_flight -= 1

    def pop_finished_prefix(self) -> list[Batch]:
        finished = []
        while self._batches and self._batches[0].done:
            finished.append(self._batches.popleft())
        return finished

    def clear(self, keep: Callable[[Batch], bool] = lambda _batch: False) -> list[Batch]:
        """Abandon batches (their offsets are never committed). Returns what was dropped."""
        dropped = [batch for batch in self._batches if not keep(batch)]
        self._batches = deque(batch for batch in self._batches if keep(batch))
        self._waiting = deque(request for request in self._waiting if keep(request.batch))
        return dropped
