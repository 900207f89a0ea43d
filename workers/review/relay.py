"""The feedback outbox relay: labels in the audit store → ``moderation.feedback``, exactly once.

Order of one cycle, and why nothing is lost or sent twice:

1. claim labels older than the undo window (one UPDATE: a label undone first is never claimed);
2. begin a Kafka transaction, produce every claimed-but-unpublished label, commit;
3. mark them published in the audit store.

A crash before 2's commit leaves an open transaction: the next relay's ``init_transactions``
(same transactional id) aborts it, so ``read_committed`` readers never see it, and the labels are
sent again. A crash (or a database error) between 2 and 3 leaves labels claimed, sent, but not
marked: before sending anything, a starting relay — or one whose last cycle failed after
beginning a transaction — scans the topic from the oldest unmarked claim and marks what it finds.
The relay is the only writer of its transactional id, so the scan sees everything it sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from confluent_kafka import Consumer

from guardstream.audit.feedback_outbox import FeedbackOutbox
from guardstream.records import Feedback
from workers.kafka_clients import read_to_end

log = logging.getLogger(__name__)

SCAN_MARGIN_MS = 5 * 60 * 1000
"""Scan from this long before the oldest claim: covers clock skew between hosts."""


class TransactionalProducer(Protocol):
    def init_transactions(self, timeout: float) -> None: ...
    def begin_transaction(self) -> None: ...
    def produce(self, topic: str, value: bytes, key: bytes) -> None: ...
    def commit_transaction(self, timeout: float) -> None: ...
    def abort_transaction(self, timeout: float) -> None: ...
    def poll(self, timeout: float) -> int: ...


PublishedScan = Callable[[int], set[str]]
"""Feedback ids committed on the topic in records timestamped at or after the given ms."""


class FeedbackRelay:
    def __init__(
        self,
        outbox: FeedbackOutbox,
        producer_factory: Callable[[], TransactionalProducer],
        scan_published: PublishedScan,
        topic: str,
        encode: Callable[[Feedback], bytes],
        undo_window_ms: int,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        batch_size: int = 500,
    ) -> None:
        self._outbox = outbox
        self._producer_factory = producer_factory
        self._scan = scan_published
        self._topic = topic
        self._encode = encode
        self._undo_window_ms = undo_window_ms
        self._clock = clock_ms
        self._batch = batch_size
        self._producer: TransactionalProducer | None = None
        self._needs_recovery = True

    def run_once(self) -> int:
        """One cycle; returns how many labels were sent. Errors propagate (the runner backs off)."""
        if self._producer is None:
            producer = self._producer_factory()
            producer.init_transactions(30)
            self._producer = producer
            self._needs_recovery = True
        if self._needs_recovery:
            self.recover()
        now = self._clock()
        self._outbox.claim(now - self._undo_window_ms, now, self._batch)
        pending = self._outbox.claimed_unpublished(self._batch)
        if not pending:
            return 0
        self._send(pending)
        return len(pending)

    def recover(self) -> int:
        """Mark claimed labels that a previous cycle committed to the topic; returns how many."""
        oldest = self._outbox.oldest_unpublished_claim_ms()
        if oldest is None:
            self._needs_recovery = False
            return 0
        on_topic = self._scan(oldest - SCAN_MARGIN_MS)
        waiting = {feedback.feedback_id for feedback in self._outbox.claimed_unpublished(limit=1_000_000)}
        found = sorted(waiting & on_topic)
        self._outbox.mark_published(found, self._clock())
        self._needs_recovery = False
        if found:
            log.info("relay recovery: %d label(s) were already on %s", len(found), self._topic)
        return len(found)

    def _send(self, pending: Sequence[Feedback]) -> None:
        producer = self._producer
        assert producer is not None
        self._needs_recovery = True  # until the marks below are written, the topic is the truth
        try:
            producer.begin_transaction()
            for feedback in pending:
                _produce(producer, self._topic, self._encode(feedback), feedback.event_id.encode("utf-8"))
            producer.commit_transaction(30)
        except Exception:
            self._abandon_producer()
            raise
        self._outbox.mark_published([feedback.feedback_id for feedback in pending], self._clock())
        self._needs_recovery = False
        log.info("relay: sent %d label(s) to %s", len(pending), self._topic)

    def _abandon_producer(self) -> None:
        """Drop the producer; the next cycle's init_transactions aborts whatever it left open."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.abort_transaction(5)
            except Exception as exc:  # the fencing init_transactions of the next cycle settles it
                log.warning("relay: abort after a failed transaction did not complete: %s", exc)


def _produce(producer: TransactionalProducer, topic: str, value: bytes, key: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key)
            return
        except BufferError:
            producer.poll(0.05)


class RelayRunner:
    """Runs a relay cycle every ``interval_s`` on its own thread, backing off after errors."""

    def __init__(self, relay: FeedbackRelay, interval_s: float, max_backoff_s: float = 10.0) -> None:
        self._relay = relay
        self._interval = interval_s
        self._max_backoff = max_backoff_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="feedback-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        backoff = self._interval
        while not self._stop.is_set():
            try:
                self._relay.run_once()
                self.last_error = None
                backoff = self._interval
            except Exception as exc:  # recorded for /healthz and retried with backoff
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("feedback relay cycle failed, retrying in %.1fs: %s", backoff, exc)
                backoff = min(self._max_backoff, backoff * 2)
            self._stop.wait(backoff)


def kafka_scan(
    new_reader: Callable[[], Consumer], topic: str, decode: Callable[[bytes], Feedback], timeout_s: float = 30.0
) -> PublishedScan:
    """A :data:`PublishedScan` over the real topic, read to its end with ``read_committed`` readers."""

    def scan(since_ms: int) -> set[str]:
        return {
            decode(value).feedback_id for _key, value in read_to_end(new_reader, topic, since_ms, timeout_s) if value
        }

    return scan
