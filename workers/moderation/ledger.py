"""The commit ledger: finished outputs waiting for their commit, and where each partition stands.

The loop adds each finished batch, in order, and asks :meth:`CommitLedger.due`; when it is due,
:meth:`CommitLedger.commit` hands everything added since the last commit to the sink in one go
(the sink writes the audit rows, then one Kafka transaction with the outputs and the offsets). A
commit that fails for a dependency raises :class:`~guardstream.errors.DependencyUnavailableError`,
which names it; the outputs stay as they are and the next attempt is due after a backoff.

The positions this instance committed, beside librdkafka's reports of each partition's last stable
offset, give the consumer lag of the partitions it holds.
"""

from __future__ import annotations

from guardstream.errors import DependencyUnavailableError
from workers.moderation.batch import Batch
from workers.moderation.collaborators import OutputSink
from workers.moderation.health import KafkaWatch
from workers.moderation.outputs import BatchOutputs, OutputStamp, build_outputs
from workers.retry import Backoff

Partition = tuple[str, int]
"""(topic, partition)"""


class CommitLedger:
    def __init__(
        self, stamp: OutputStamp, *, interval_s: float, backoff: Backoff, limit: int, watch: KafkaWatch
    ) -> None:
        """``limit``: finished records held at most (commits failing); ``watch``: the partitions' stable ends."""
        self._stamp = stamp
        self._interval_s = interval_s
        self._backoff = backoff
        self._limit = limit
        self._watch = watch
        self._outputs = BatchOutputs()
        self._positions: dict[Partition, int] = {}
        self._interval_ends_at = 0.0
        self._retry_at = 0.0
        self._assigned: set[Partition] = set()
        self._committed: dict[Partition, int] = {}

    # ── what waits for a commit ──────────────────────────────────────────────────────────────
    def add(self, batch: Batch, now_ms: int) -> None:
        """Take a finished batch's outputs; its positions move forward with the next commit."""
        self._outputs.extend(build_outputs(batch, self._stamp, now_ms))
        for key, position in batch.positions().items():
            self._positions[key] = max(self._positions.get(key, 0), position)

    @property
    def empty(self) -> bool:
        return not self._positions

    @property
    def full(self) -> bool:
        """Holding its limit of finished records: take no more (the window fills, consumption pauses)."""
        return len(self._outputs.verdicts) + len(self._outputs.dead_letters) >= self._limit

    def abandon(self) -> None:
        """Drop everything not committed; it will be read again from the committed offsets."""
        self._outputs = BatchOutputs()
        self._positions = {}

    # ── committing ───────────────────────────────────────────────────────────────────────────
    def due(self, now: float, finishing: bool = False) -> bool:
        """Something waits, the backoff after a failure has passed, and so has the commit interval
        unless ``finishing`` (nothing else is left to do: waiting would only delay the drain)."""
        if self.empty or now < self._retry_at:
            return False
        return finishing or now >= self._interval_ends_at

    def next_due(self) -> float | None:
        """When a commit is due next; None while nothing waits."""
        return None if self.empty else max(self._retry_at, self._interval_ends_at)

    def commit(self, sink: OutputSink, now: float) -> BatchOutputs:
        """Commit what waits; returns those outputs as the sink made them durable (duplicates set aside,
        refused verdicts dead-lettered). Raises :class:`DependencyUnavailableError` (retry when due
        again) or :class:`~workers.transactions.SinkFailedError` (stop) from the sink."""
        try:
            sink.commit(self._outputs, self._positions)
        except DependencyUnavailableError:
            self._retry_at = now + self._backoff.next_delay()
            raise
        committed = self._outputs
        self._backoff.reset()
        self._committed.update(self._positions)
        self._outputs, self._positions = BatchOutputs(), {}
        self._interval_ends_at = now + self._interval_s
        return committed

    # ── the partitions held ──────────────────────────────────────────────────────────────────
    def assign(self, partitions: list[Partition]) -> None:
        self._assigned.update(partitions)

    def forget(self, partitions: list[Partition]) -> None:
        """The partitions were revoked or lost: their lag is someone else's now."""
        for key in partitions:
            self._assigned.discard(key)
            self._committed.pop(key, None)

    @property
    def partitions(self) -> list[Partition]:
        return sorted(self._assigned)

    def lag(self) -> dict[Partition, int]:
        """Per partition held: records up to the last stable offset not committed yet (asked from other
        threads; librdkafka's committed offset stands in until this instance commits one)."""
        lag = {}
        for key in list(self._assigned):
            end = self._watch.stable_ends.get(key)
            committed = self._committed.get(key, self._watch.committed.get(key))
            if end is not None and committed is not None:
                lag[key] = max(0, end - committed)
        return lag
