"""Kafka transactions that carry records and consumer offsets together: all of them or none.

:class:`KafkaTransactions` owns one transactional producer: ``commit`` begins a transaction,
produces the records, adds the consumed offsets and commits. The moderation worker's sink and the
analysis loop both make their outputs durable with it.

Kafka failures, as librdkafka classifies them:

* *retriable* (a broker restarting, a coordinator moving, a timeout): the same call is repeated
  with backoff until ``retry_timeout_s`` passes. ``commit_transaction`` in particular is retried,
  never replaced by an abort: once a commit was requested its outcome is only known when a retry
  of the same call succeeds.
* *abortable* (``txn_requires_abort``: a produce failed, the consumer group moved on): the
  transaction is aborted (the abort itself is retried, since it fails too while a broker restarts)
  and :class:`DependencyUnavailableError` (``kafka``) tells the caller to produce the same outputs
  again in a new one.
* *wedged*: librdkafka does not always keep its own timeout (``send_offsets_to_transaction``
  was seen blocking for minutes after a broker restart), so every blocking call runs on a helper
  thread with a deadline. A call that overstays it leaves that producer behind: a new one with
  the same transactional id is built (its ``init_transactions`` fences the stuck one and aborts
  its transaction; the stuck one's queued and in-flight records are purged first, so that none
  reaches the broker late) and the outputs are produced again; without a way to rebuild, the caller stops.
* *a commit whose outcome is unknown* (``commit_transaction`` stuck, or still failing when
  ``retry_timeout_s`` passes; seen once while a broker restarted): a new producer with the same id
  settles it, since its ``init_transactions`` returns only once the coordinator has finished the
  old transaction, committed or aborted. The group's committed offsets then tell which: offsets and
  records commit together, so offsets at ``positions`` mean the outputs are out (``commit``
  returns); anything else means they were aborted (:class:`DependencyUnavailableError`, ``kafka``:
  produce them again).
  Without a way to rebuild, or when the offsets cannot be read, the caller stops.
* *fatal* (above all: fenced, because another instance started with our transactional id): this
  instance is a zombie. :class:`SinkFailedError` says so; the caller abandons its uncommitted work
  and stops, and the instance that fenced it processes that work again. So does a retriable
  failure that outlasts ``retry_timeout_s``: a restarted instance's ``init_transactions`` resolves
  whatever this one left open.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from guardstream.errors import DependencyUnavailableError, GuardstreamError
from workers.retry import Backoff

log = logging.getLogger(__name__)

T = TypeVar("T")

_FENCED_CODES = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH})


class SinkFailedError(GuardstreamError):
    """The transactional producer cannot go on; its owner must abandon its work and stop."""


class ProducerFencedError(SinkFailedError):
    """Another instance started with this transactional id: this one is a zombie."""


class _Wedged(KafkaException):
    """A blocking producer call did not return by its deadline (a Kafka failure, for health)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to produce inside a transaction."""

    topic: str
    key: bytes | None
    value: bytes | None
    """None: a tombstone (a compacted topic forgets the key)."""
    traceparent: str | None = None
    """The W3C trace context travels on from the input record to its outputs, as a header."""
    partition: int | None = None
    """Where it must go (a changelog partitioned like its input); None: the key decides."""

    @property
    def headers(self) -> list[tuple[str, str | bytes | None]] | None:
        return None if self.traceparent is None else [("traceparent", self.traceparent.encode("ascii"))]


class KafkaTransactions:
    def __init__(
        self,
        producer: Producer,
        consumer: Consumer,
        *,
        retry_timeout_s: float = 120.0,
        rebuild: Callable[[], Producer] | None = None,
        call_timeout_s: float = 10.0,
        call_grace_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._producer = producer
        self._consumer = consumer
        self._retry_timeout_s = retry_timeout_s
        self._rebuild = rebuild
        self._call_timeout_s = call_timeout_s
        self._call_grace_s = call_grace_s
        self._clock = clock
        self._sleep = sleep
        self._open = False
        self._failed: SinkFailedError | None = None

    def start(self) -> None:
        """Register the transactional id; this fences any older instance that used it."""
        try:
            self._retrying("init_transactions", lambda: self._producer.init_transactions(self._call_timeout_s))
        except _Wedged as wedged:
            raise SinkFailedError(f"{wedged} did not return: the broker is unreachable") from None

    def check(self) -> None:
        """Raise the failure that stopped this producer, if any, before any other work is done."""
        if self._failed is not None:
            raise self._failed

    def commit(self, records: Sequence[Outgoing], positions: dict[tuple[str, int], int]) -> None:
        """Produce ``records`` and move ``positions`` forward in one transaction, all or nothing.

        Raises :class:`DependencyUnavailableError` (``kafka``) when the caller should try again later
        with the same records, :class:`SinkFailedError` when this instance must stop.
        """
        self.check()
        committing = False
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in positions.items()]
        try:
            if self._open:  # an abort that could not finish last time
                self._abort()
            self._producer.begin_transaction()
            self._open = True
            for record in records:
                self._send(record)
            metadata = self._consumer.consumer_group_metadata()
            self._retrying(
                "send_offsets_to_transaction",
                lambda: self._producer.send_offsets_to_transaction(offsets, metadata, self._call_timeout_s),
            )
            committing = True
            self._retrying("commit_transaction", lambda: self._producer.commit_transaction(self._call_timeout_s))
            self._open = False
        except _Wedged as wedged:
            if committing:
                self._settle_unknown_commit(f"{wedged} did not return", offsets)
                return
            self._replace_producer(f"{wedged} did not return in time")
            raise DependencyUnavailableError(
                "kafka", f"{wedged} did not return; a new producer took over, will retry"
            ) from wedged
        except KafkaException as exc:
            error = _error(exc)
            if error is not None and error.txn_requires_abort():
                self._abort()
                raise DependencyUnavailableError(
                    "kafka", f"Kafka transaction aborted, will retry: {error.str()}"
                ) from exc
            if committing and error is not None and error.retriable() and not error.fatal():
                self._settle_unknown_commit(f"commit_transaction still failing ({error.str()})", offsets)
                return
            raise self._fail(exc) from exc

    def abort_if_open(self) -> None:
        """Best effort on shutdown: abort a transaction left open (the next instance would anyway)."""
        if not self._open or self._failed is not None:
            return
        try:
            self._bounded(
                "abort_transaction", lambda: self._producer.abort_transaction(min(10.0, self._call_timeout_s))
            )
            self._open = False
        except (KafkaException, _Wedged) as exc:
            log.warning("abort on shutdown failed (the next instance aborts it): %s", exc)

    # ── helpers ──────────────────────────────────────────────────────────────────────────────
    def _abort(self) -> None:
        try:
            self._retrying("abort_transaction", lambda: self._producer.abort_transaction(self._call_timeout_s))
        except _Wedged as wedged:
            self._replace_producer(f"{wedged} did not return in time")
        except KafkaException as exc:
            raise self._fail(exc) from exc
        self._open = False

    def _settle_unknown_commit(self, cause: str, offsets: list[TopicPartition]) -> None:
        """Return if the transaction committed; raise :class:`DependencyUnavailableError` if it was aborted."""
        # the new producer's init_transactions waits until the old transaction is finished
        self._replace_producer(f"{cause}: the transaction's outcome is unknown")
        try:
            committed = self._retrying(
                "committed", lambda: self._consumer.committed(offsets, timeout=self._call_timeout_s)
            )
        except (KafkaException, _Wedged) as exc:
            raise self._give_up(
                SinkFailedError(f"{cause}, and the group's committed offsets cannot be read to settle it: {exc}")
            ) from None
        wanted = {(tp.topic, tp.partition): tp.offset for tp in offsets}
        if {(tp.topic, tp.partition): tp.offset for tp in committed} == wanted:
            log.warning("%s; a new producer settled it: the transaction committed", cause)
            return
        raise DependencyUnavailableError(
            "kafka", f"{cause}; a new producer settled it: the transaction was aborted, will retry"
        )

    def _replace_producer(self, cause: str) -> None:
        """Leave a stuck producer behind; a new one with the same id fences it and aborts its work."""
        if self._rebuild is None:
            raise self._give_up(SinkFailedError(f"{cause}, and the producer cannot be rebuilt"))
        log.error("%s: replacing the producer (the new one fences it)", cause)
        _silence(self._producer)
        self._producer = self._rebuild()
        self._open = False
        try:
            self._retrying("init_transactions", lambda: self._producer.init_transactions(self._call_timeout_s))
        except (KafkaException, _Wedged) as exc:
            raise self._give_up(SinkFailedError(f"the replacement producer could not register: {exc}")) from None

    def _retrying(self, name: str, call: Callable[[], T]) -> T:
        """Repeat ``call`` while it fails with a retriable error, until ``retry_timeout_s`` passes."""
        deadline = self._clock() + self._retry_timeout_s
        backoff = Backoff(0.1, 2.0)
        while True:
            try:
                return self._bounded(name, call)
            except KafkaException as exc:
                error = _error(exc)
                if error is None or not error.retriable() or error.fatal() or self._clock() >= deadline:
                    raise
                delay = backoff.next_delay()
                log.warning("%s failed (retriable), again in %.2fs: %s", name, delay, error.str())
                self._sleep(delay)

    def _bounded(self, name: str, call: Callable[[], T]) -> T:
        """``call`` on a helper thread; raise :class:`_Wedged` if it overstays its deadline."""
        outcome: dict[str, object] = {}
        done = threading.Event()

        def target() -> None:
            try:
                outcome["value"] = call()
            except BaseException as exc:  # handed to the caller's thread
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=target, name=f"kafka-{name}", daemon=True).start()
        if not done.wait(self._call_timeout_s + self._call_grace_s):
            raise _Wedged(name)
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]  # only BaseExceptions are stored under 'error' by the helper thread
        return outcome.get("value")  # type: ignore[return-value]  # 'value' holds what call() returned, a T

    def _fail(self, exc: KafkaException) -> SinkFailedError:
        error = _error(exc)
        if error is not None and error.code() in _FENCED_CODES:
            failure: SinkFailedError = ProducerFencedError(
                f"producer fenced: another instance took over this transactional id ({error.str()}); "
                "abandoning uncommitted work"
            )
        else:
            failure = SinkFailedError(f"Kafka transaction cannot go on: {exc}")
        return self._give_up(failure)

    def _give_up(self, failure: SinkFailedError) -> SinkFailedError:
        """Log ``failure`` and keep it: from now on every call raises it (:meth:`check`)."""
        log.error("%s", failure)
        self._failed = failure
        return failure

    def _send(self, record: Outgoing) -> None:
        while True:
            try:
                if record.partition is None:
                    self._producer.produce(record.topic, value=record.value, key=record.key, headers=record.headers)
                else:
                    self._producer.produce(
                        record.topic,
                        value=record.value,
                        key=record.key,
                        headers=record.headers,
                        partition=record.partition,
                    )
                return
            except BufferError:
                self._producer.poll(0.05)


def _silence(producer: Producer) -> None:
    """Drop what a left-behind producer still holds, queued or in flight, without waiting.

    Its client lives on until the stuck call returns and would otherwise keep sending those records
    after the broker returns, racing the abort that its replacement's ``init_transactions`` starts.
    """
    try:
        producer.purge(in_queue=True, in_flight=True, blocking=False)
    except (KafkaException, RuntimeError) as exc:
        log.warning("could not purge the left-behind producer: %s", exc)


def _error(exc: KafkaException) -> KafkaError | None:
    error = exc.args[0] if exc.args else None
    return error if isinstance(error, KafkaError) else None
