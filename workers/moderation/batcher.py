"""Micro-batches that end on size or on time, whichever comes first; never a wait without a deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class MicroBatcher(Generic[Item]):
    def __init__(self, max_size: int, max_wait_s: float, clock: Callable[[], float]) -> None:
        self._max_size = max_size
        self._max_wait_s = max_wait_s
        self._clock = clock
        self._items: list[Item] = []
        self._opened_at = 0.0

    def add(self, item: Item) -> None:
        if not self._items:
            self._opened_at = self._clock()
        self._items.append(item)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def room(self) -> int:
        return self._max_size - len(self._items)

    def deadline(self) -> float | None:
        """When the open batch must be sealed at the latest; None while it is empty."""
        return self._opened_at + self._max_wait_s if self._items else None

    def is_due(self) -> bool:
        if not self._items:
            return False
        return len(self._items) >= self._max_size or self._clock() >= self._opened_at + self._max_wait_s

    def take(self) -> list[Item]:
        """Seal and return the open batch: at most ``max_size`` items, possibly none.

        Items beyond that stay and open the next batch. The loop asks for at least one record every
        turn (polling is also what serves rebalances), so one can arrive while the batch is already
        full, and Triton refuses a request larger than the model's ``max_batch_size``.
        """
        items, self._items = self._items[: self._max_size], self._items[self._max_size :]
        return items

    def clear(self) -> None:
        """Forget every item (uncommitted work is abandoned)."""
        self._items = []

    def drop(self, keep: Callable[[Item], bool]) -> None:
        """Forget items that ``keep`` rejects (for example those of revoked partitions)."""
        self._items = [item for item in self._items if keep(item)]
