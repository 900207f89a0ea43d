"""The analysis loop: read ``moderation.flagged``, explain in small batches, commit exactly once.

One thread runs it, beside the moderation worker's loop and sharing nothing with it but the
process: its own consumer (its own group, ``read_committed``), its own transactional producer, its
own Triton and database connections. Explain mode is slow, so the loop holds at most one batch:
while it waits for Triton, a retry or the verdict path, its partitions are paused and the consumer
keeps polling (so it stays in its group); the backlog waits in Kafka, never in memory.

Verdicts come first: inside a worker, a batch waits while the worker's own verdict path is behind
(``yield_to_verdicts``), so explain requests never take Triton's time from verdicts that are due.

A batch is committed or dropped as a whole: records of partitions revoked or lost in a rebalance
leave the batch uncommitted (their new owner reads them again); the rest stay in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from guardstream.errors import PoisonInputError, RetriableError
from guardstream.records import Analysis, DeadLetter, Verdict
from guardstream.settings import AnalysisSettings
from workers.analysis.analyst import Analyst, FlaggedSource
from workers.analysis.sink import AnalysisSink
from workers.kafka_clients import committed_starts, position_of
from workers.retry import Backoff

log = logging.getLogger(__name__)

_POLL_S = 0.5
_YIELD_S = 0.25
"""How long explain requests wait before asking again whether the verdict path has caught up."""


@dataclass(frozen=True, slots=True)
class Flagged:
    """One record read from ``moderation.flagged``: a verdict, or poison that goes to the DLQ."""

    source: FlaggedSource
    key: bytes | None
    payload: bytes
    verdict: Verdict | None = None
    poison: PoisonInputError | None = None


@dataclass(frozen=True, slots=True)
class LoopIdentity:
    """What the loop stamps on its dead letters."""

    worker_id: str
    dlq_payload_max_bytes: int


class AnalysisLoop:
    def __init__(
        self,
        settings: AnalysisSettings,
        flagged_topic: str,
        consumer: Consumer,
        analyst: Analyst,
        sink: AnalysisSink,
        decode: Callable[[bytes | None], Verdict],
        identity: LoopIdentity,
        backoff: Backoff,
        clock: Callable[[], float] = time.monotonic,
        *,
        yield_to_verdicts: Callable[[], bool] = lambda: False,
    ) -> None:
        """``yield_to_verdicts`` says when explain requests should wait for the verdict path (verdicts first)."""
        self._settings = settings
        self._topic = flagged_topic
        self._consumer = consumer
        self._analyst = analyst
        self._sink = sink
        self._decode = decode
        self._identity = identity
        self._backoff = backoff
        self._clock = clock
        self._yield_to_verdicts = yield_to_verdicts
        self._batch: list[Flagged] = []
        self._batch_started = 0.0
        self._analysed: list[tuple[bytes | None, Analysis]] | None = None
        """The batch's analyses once made: a failed commit is retried without explaining again."""
        self._retry_at = 0.0
        self._assigned: set[tuple[str, int]] = set()
        self._paused = False
        self._stopping = False
        self.counts = {
            "flagged": 0, "explained": 0, "unavailable": 0, "dead_letters": 0, "commits": 0, "retries": 0, "yields": 0,
        }  # fmt: skip

    def stop(self) -> None:
        """Ask the loop to finish the batch at hand and exit (safe from any thread)."""
        self._stopping = True

    def run(self) -> None:
        self._sink.start()
        self._consumer.subscribe(
            [self._topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        log.info("analysis loop started topic=%s", self._topic)
        try:
            while not self._stopping:
                self._step()
            deadline = self._clock() + self._settings.drain_timeout_s
            while self._batch and self._clock() < deadline:
                self._step()
            if self._batch:
                log.warning("analysis drain timed out; %d flagged verdicts will be analysed again", len(self._batch))
        finally:
            self._sink.abort_if_open()
            self._consumer.close()
            self._analyst.close()
            log.info("analysis loop stopped counts=%s", self.counts)

    def _step(self) -> None:
        now = self._clock()
        ready_at = self._ready_at()
        if ready_at is not None and now >= ready_at:
            if self._stopping or not self._yield_to_verdicts():
                self._process()
                return
            self._retry_at = now + _YIELD_S  # the verdict path is behind: explain later
            self.counts["yields"] += 1
        self._flow_control()
        self._consume(min(_POLL_S, max(0.0, (ready_at if ready_at is not None else now + _POLL_S) - now)))

    def _ready_at(self) -> float | None:
        """When the batch at hand is to be analysed: once full (or stopping) or old enough, and not in a retry wait."""
        if not self._batch:
            return None
        if self._full() or self._stopping:
            return self._retry_at
        return max(self._batch_started + self._settings.batch_max_wait_ms / 1000.0, self._retry_at)

    # ── consuming ────────────────────────────────────────────────────────────────────────────
    def _full(self) -> bool:
        return len(self._batch) >= self._settings.batch_max_size

    def _consume(self, timeout: float) -> None:
        room = max(1, self._settings.batch_max_size - len(self._batch))
        for message in self._consumer.consume(num_messages=room, timeout=timeout):
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise RuntimeError(f"fatal consumer error: {error.str()}")
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("analysis consumer error (librdkafka retries by itself): %s", error.str())
                continue
            if not self._batch:
                self._batch_started = self._clock()
            self._batch.append(self._read(message))
            self.counts["flagged"] += 1

    def _read(self, message: Message) -> Flagged:
        source = FlaggedSource(*position_of(message))
        payload = message.value() or b""
        try:
            return Flagged(source, message.key(), payload, verdict=self._decode(message.value()))
        except PoisonInputError as poison:
            return Flagged(source, message.key(), payload, poison=poison)

    def _flow_control(self) -> None:
        """Pause while the batch is full, waits for a retry or drains, so that polling fetches nothing more."""
        hold = self._stopping or self._full() or (bool(self._batch) and self._clock() < self._retry_at)
        if hold != self._paused and self._assigned:
            partitions = [TopicPartition(topic, partition) for topic, partition in sorted(self._assigned)]
            (self._consumer.pause if hold else self._consumer.resume)(partitions)
            self._paused = hold

    # ── analysing and committing ─────────────────────────────────────────────────────────────
    def _process(self) -> None:
        batch = self._batch[: self._settings.batch_max_size]
        try:
            if self._analysed is None:
                verdicts = [(entry.source, entry.verdict) for entry in batch if entry.verdict is not None]
                keys = [entry.key for entry in batch if entry.verdict is not None]
                self._analysed = list(zip(keys, self._analyst.analyse(verdicts), strict=True))
            letters = [self._dead_letter(entry, entry.poison) for entry in batch if entry.poison is not None]
            self._sink.commit(self._analysed, letters, _positions(batch))
        except RetriableError as exc:
            delay = self._backoff.next_delay()
            self._retry_at = self._clock() + delay
            self.counts["retries"] += 1
            log.warning("analysis of %d flagged verdicts retried in %.2fs: %s", len(batch), delay, exc)
            return
        self._backoff.reset()
        self._retry_at = 0.0
        for _, analysis in self._analysed:
            self.counts[analysis.status.value] += 1
        self.counts["dead_letters"] += len(letters)
        self.counts["commits"] += 1
        self._analysed = None
        self._batch = self._batch[len(batch) :]
        self._batch_started = self._clock()

    def _dead_letter(self, entry: Flagged, poison: PoisonInputError) -> DeadLetter:
        return DeadLetter.refused(
            (entry.source.topic, entry.source.partition, entry.source.offset),
            entry.key,
            entry.payload,
            poison.kind,
            f"not a Verdict, cannot be analysed: {poison.reason}",
            max_payload_bytes=self._identity.dlq_payload_max_bytes,
            failed_at_ms=int(time.time() * 1000),
            worker_id=self._identity.worker_id,
        )

    # ── rebalances ───────────────────────────────────────────────────────────────────────────
    def _on_assign(self, consumer: Consumer, partitions: Sequence[TopicPartition]) -> None:
        """Start each partition at its committed offset, looked up here (see committed_starts: left to
        librdkafka, a killed member's open transaction could start it at the beginning)."""
        if partitions:
            consumer.incremental_assign(committed_starts(consumer, list(partitions), clock=self._clock))
        self._assigned.update((tp.topic, tp.partition) for tp in partitions)
        if self._paused and partitions:
            consumer.pause(list(partitions))
        log.info("analysis assigned %s", _names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: Sequence[TopicPartition]) -> None:
        """Leave the records of these partitions uncommitted; their new owner analyses them."""
        gone = {(tp.topic, tp.partition) for tp in partitions}
        kept = [entry for entry in self._batch if (entry.source.topic, entry.source.partition) not in gone]
        if len(kept) != len(self._batch):
            self._analysed = None  # made for the old batch; recorded ones are found in the audit store
        self._batch = kept
        if self._paused and partitions:  # librdkafka keeps the pause flag: they would come back paused
            consumer.resume(list(partitions))
        self._assigned -= gone
        log.info("analysis revoked %s", _names(partitions))


def _positions(batch: Sequence[Flagged]) -> dict[tuple[str, int], int]:
    """The offset to commit per partition: one past the last record of the batch."""
    positions: dict[tuple[str, int], int] = {}
    for entry in batch:
        key = (entry.source.topic, entry.source.partition)
        positions[key] = max(positions.get(key, 0), entry.source.offset + 1)
    return positions


def _names(partitions: Sequence[TopicPartition]) -> str:
    return ",".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
