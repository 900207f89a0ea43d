"""The moderation worker: a short composition of small parts.

    Kafka consumer ─► decode ─► MicroBatcher ─► BatchWindow ─► GuardModel (async gRPC)
                                                     │ finished prefix
                                                     ▼
                     CommitLedger ── due? commit ─► OutputSink (audit upsert, then one Kafka transaction)

One thread runs the loop; inference outcomes come back on gRPC's threads through a queue. Nothing
here blocks on a dependency: Triton or database outages are retried on a backoff schedule while
the loop keeps polling Kafka (with partitions paused when the window is full), so the consumer is
never evicted from its group. Draining (on shutdown, before partitions are revoked) turns the same
loop without consuming until everything read so far is committed.

The collaborators are the Protocols of :mod:`workers.moderation.collaborators`.
"""

from __future__ import annotations

import logging
import queue
import re
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import cast

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from guardstream.errors import DependencyUnavailableError, GuardstreamError, PoisonInputError, RetriableError
from guardstream.limits import HEADER_BYTES, KEY_BYTES
from guardstream.settings import AuditSettings, TritonSettings, WorkerSettings
from workers.kafka_clients import committed_starts, position_of
from workers.moderation.batch import Batch, Consumed, Part
from workers.moderation.batcher import MicroBatcher
from workers.moderation.collaborators import GuardModel, InputConsumer, OutputSink
from workers.moderation.health import Health, KafkaWatch
from workers.moderation.instruments import WorkerInstruments
from workers.moderation.ledger import CommitLedger
from workers.moderation.outputs import OutputStamp
from workers.moderation.screening import Screener
from workers.moderation.window import BatchWindow
from workers.retry import Backoff
from workers.transactions import SinkFailedError
from workers.triton_client import InferenceOutcome, retry_reason

log = logging.getLogger(__name__)

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_MAX_POLL_BATCH = 500


__all__ = ["ConsumerStalledError", "Health", "ModerationWorker"]


class ConsumerStalledError(GuardstreamError):
    """The consumer delivered nothing it should for ``stall_timeout_s`` while Kafka answered: start again
    with a new consumer. Raised only while nothing read is uncommitted, so no work is lost."""


class ModerationWorker:
    def __init__(
        self,
        settings: WorkerSettings,
        triton_settings: TritonSettings,
        audit_settings: AuditSettings,
        input_topic: str,
        consumer: InputConsumer,
        sink: OutputSink,
        model: GuardModel,
        decode: Callable[[bytes | None], object],
        stamp: OutputStamp,
        clock: Callable[[], float] = time.monotonic,
        *,
        health: Health | None = None,
        kafka_watch: KafkaWatch | None = None,
        instruments: WorkerInstruments | None = None,
        screener: Screener | None = None,
        rejudge_topic: str | None = None,
    ) -> None:
        """``health`` and ``kafka_watch`` come from the caller when the consumer reports to them;
        ``screener`` screens each sealed batch with the blocklists and picks each event's policy;
        ``rejudge_topic`` (read too, when a policy falls back) holds the events that had a fallback verdict."""
        self._settings = settings
        self._input_topic = input_topic
        self._consumer = consumer
        self._sink = sink
        self._model = model
        self._decode = decode
        self._clock = clock
        self._screener = screener
        self._rejudge_topic = rejudge_topic
        self._batcher: MicroBatcher[Consumed] = MicroBatcher(
            settings.batch_max_size, settings.batch_max_wait_ms / 1000.0, clock
        )
        self._window = BatchWindow(max_batches=2 * settings.max_in_flight, max_in_flight=settings.max_in_flight)
        self._outcomes: queue.SimpleQueue[tuple[Batch, Part, InferenceOutcome]] = queue.SimpleQueue()
        self._triton_backoff = Backoff(triton_settings.retry_initial_s, triton_settings.retry_max_s)
        self._paused = False
        self._quiet_since = clock()
        """Since when the consumer has delivered nothing it should have: no assignment (``health.joined``
        false), or no record while assigned and not paused."""
        self._stopping = False
        self._sink_failed = False
        self.health = health or Health(clock)
        self._kafka_watch = kafka_watch or KafkaWatch(self.health)
        self._ledger = CommitLedger(
            stamp,
            interval_s=settings.commit_interval_ms / 1000.0,
            backoff=Backoff(audit_settings.retry_initial_s, audit_settings.retry_max_s),
            limit=2 * settings.max_in_flight * settings.batch_max_size,
            watch=self._kafka_watch,
        )
        self._instruments = instruments or WorkerInstruments.disabled()
        self._instruments.observe(lambda: self._window.in_flight, self._ledger.lag, self.health)
        self.counts = {"consumed": 0, "verdicts": 0, "dead_letters": 0, "duplicates": 0, "commits": 0}

    # ── life cycle ────────────────────────────────────────────────────────────────────────────
    def stop(self) -> None:
        """Ask the loop to drain and exit (safe to call from a signal handler)."""
        self._stopping = True

    def run(self) -> None:
        self._sink.start()
        topics = [self._input_topic, *([self._rejudge_topic] if self._rejudge_topic else [])]
        self.health.joined = False  # a worker started again (a new consumer) has not joined yet either
        self._quiet_since = self._clock()
        self._consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        log.info("worker started topic=%s group=%s", self._input_topic, self._settings.group_id)
        try:
            while not self._stopping:
                self._turn(draining=False)
            if not self._drain(self._clock() + self._settings.drain_timeout_s):
                log.warning("shutdown drain timed out; uncommitted work will be processed again")
                self._abandon()  # so that the revoke on close does not wait for it a second time
        finally:
            self._sink.abort_if_open()
            self._consumer.close()
            log.info("worker stopped counts=%s", self.counts)

    def _turn(self, draining: bool) -> None:
        """One turn of the loop. ``draining``: seal what the batcher holds, and consume nothing (a
        drain runs inside a rebalance callback, or after the last poll)."""
        self.health.beat()
        self._apply_outcomes()
        self._seal_if_due(draining)
        self._submit_due()
        self._collect_finished()
        if self._ledger.due(self._clock(), finishing=draining and self._idle()):
            self._commit()
        if draining:
            time.sleep(0.002)
        else:
            self._flow_control()
            self._consume(self._poll_timeout())
            self._check_consumer()

    def _drain(self, deadline: float) -> bool:
        """Finish and commit everything consumed so far, unless ``deadline`` passes first."""
        while not self._sink_failed and self._clock() < deadline:
            if self._idle() and self._ledger.empty:
                return True
            self._turn(draining=True)
        return False

    def _idle(self) -> bool:
        """Nothing is batching or in the window: all that was read is finished."""
        return not len(self._window) and not len(self._batcher)

    # ── consuming ────────────────────────────────────────────────────────────────────────────
    def _poll_timeout(self) -> float:
        now = self._clock()
        wakeups = [now + 0.1]
        if self._window.in_flight:
            wakeups.append(now + 0.002)
        for moment in (self._batcher.deadline(), self._window.next_wakeup()):
            if moment is not None:
                wakeups.append(moment)
        commit_at = self._ledger.next_due()
        if commit_at is not None:
            wakeups.append(commit_at)
        return max(0.0, min(wakeups) - now)

    def _consume(self, timeout: float) -> None:
        room = self._batcher.room if not self._paused else 1
        messages = self._consumer.consume(num_messages=max(1, min(room, _MAX_POLL_BATCH)), timeout=timeout)
        now = self._clock()
        if messages:
            self._quiet_since = now
        for message in messages:
            error = message.error()
            if error is not None:
                self._on_consumer_error(error)
                continue
            self._batcher.add(self._read(message, now))
            self.counts["consumed"] += 1
            if self._batcher.is_due():
                self._seal(now)

    def _read(self, message: Message, now: float) -> Consumed:
        headers, unreadable = _headers(message)
        topic, partition, offset = position_of(message)
        key, payload = message.key(), message.value()
        event, poison = None, unreadable or _envelope_poison(headers, key)
        if poison is None:
            try:
                event = self._decode(payload)
            except PoisonInputError as refused:
                poison = refused
        return Consumed(
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            consumed_at=now,
            event=event,  # type: ignore[arg-type]  # the decoder is typed for any record class; this one is built for ChatEvent
            poison=poison,
            payload=payload,
            traceparent=_traceparent(headers),
        )

    def _on_consumer_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.fatal():
            raise RuntimeError(f"fatal consumer error: {error.str()}")
        self._kafka_watch.on_error(error)
        log.warning("consumer error (librdkafka retries by itself): %s", error.str())

    def _flow_control(self) -> None:
        """Pause every assigned partition while the window is full; resume once it drains."""
        full = self._window.full and self._batcher.room == 0
        if full and not self._paused:
            self._consumer.pause(self._partitions())
            self._paused = True
            log.debug("window full: partitions paused")
        elif self._paused and not self._window.full:
            self._consumer.resume(self._partitions())
            self._paused = False
            self._quiet_since = self._clock()

    def _partitions(self) -> list[TopicPartition]:
        return [TopicPartition(topic, partition) for topic, partition in self._ledger.partitions]

    def _check_consumer(self) -> None:
        """Raise :class:`ConsumerStalledError` once the consumer has delivered nothing it should for
        ``stall_timeout_s``: no assignment, or, while nothing is in flight or paused, no record though
        its partitions hold records past its position (the last stable offset in librdkafka's last
        statistics). After a broker restart a consumer that lost its partitions was seen never being
        assigned any again, and one that was assigned them again stopped fetching after a few seconds;
        their records waited, uncommitted, until the test gave up. Only time while Kafka answers counts.
        """
        now = self._clock()
        timeout = self._settings.stall_timeout_s
        if self.health.kafka != "ok":
            self._quiet_since = now
            return
        quiet = now - self._quiet_since
        if quiet <= timeout:
            return
        if not self.health.joined:
            raise ConsumerStalledError(
                f"the group {self._settings.group_id!r} assigned this worker nothing for {quiet:.0f}s "
                "while Kafka answered (stall_timeout_s)"
            )
        self._quiet_since = now  # looked at once per timeout, not every turn
        if not self._paused and self._idle() and self._ledger.empty:
            behind = self._unfetched()
            if behind:
                raise ConsumerStalledError(f"no record arrived for {timeout:.0f}s (stall_timeout_s), though {behind}")

    def _unfetched(self) -> str:
        """The assigned partitions that hold records past the consumer's position, described; "" if none."""
        ends = self._kafka_watch.stable_ends
        behind = []
        for tp in self._consumer.position(self._partitions()):
            end = ends.get((tp.topic, tp.partition))
            if tp.offset >= 0 and end is not None and end > tp.offset:
                behind.append(f"{tp.topic}[{tp.partition}] holds records up to {end} past position {tp.offset}")
        return "; ".join(behind)

    # ── batching and inference ───────────────────────────────────────────────────────────────
    def _seal_if_due(self, draining: bool) -> None:
        if self._batcher.is_due() or (draining and len(self._batcher)):
            self._seal(self._clock())

    def _seal(self, now: float) -> None:
        if self._window.full:
            return
        entries = self._batcher.take()
        if entries:
            screens = None
            if self._screener is not None:
                texts = [(e.event.text, e.event.metadata) if e.event is not None else None for e in entries]
                screens = self._screener.screen(texts, [e.topic == self._rejudge_topic for e in entries])
            self._window.seal(entries, now, screens)
            self._instruments.batch_sealed(len(entries))

    def _answered(self, batch: Batch, part: Part, outcome: InferenceOutcome) -> None:
        """Called on the client's thread: the loop picks the outcome up from the queue."""
        self._outcomes.put((batch, part, outcome))

    def _submit_due(self) -> None:
        now = self._clock()
        for request in self._window.submittable(now):
            batch, part = request.batch, request.part
            if batch.submitted_at is None:
                batch.submitted_at = now
            self._model.submit(batch.pairs(part), partial(self._answered, batch, part), batch.escalations(part))

    def _apply_outcomes(self) -> None:
        while True:
            try:
                batch, part, outcome = self._outcomes.get_nowait()
            except queue.Empty:
                return
            self._window.returned()
            if batch.abandoned:
                continue
            if outcome.error is None and outcome.p_unsafe is not None:
                batch.complete(
                    part,
                    outcome.p_unsafe,
                    outcome.model_version,
                    outcome.elapsed_ms,
                    outcome.categories,
                    outcome.cascade,
                    outcome.generative_version,
                )
                self._triton_backoff.reset()
                self.health.recover("triton")
                self._instruments.inference_done(outcome.elapsed_ms)
            elif isinstance(outcome.error, RetriableError):
                self._model.forget_version()
                delay = self._triton_backoff.next_delay()
                self.health.degrade("triton", str(outcome.error))
                self._instruments.inference_retried(retry_reason(outcome.error))
                log.debug("inference retry in %.2fs batch=%d: %s", delay, batch.seq, outcome.error)
                left = batch.fall_back(part, self._clock())
                if left is not None:
                    log.warning("model away past the fallback deadline: %d events of batch %d fall back",
                                len(batch.fallen), batch.seq)  # fmt: skip
                for retried in [part] if left is None else left:
                    self._window.schedule(batch, retried, self._clock() + delay)
            else:
                self._instruments.inference_retried("rejected")
                log.warning("inference rejected part %s of batch %d: %s", part, batch.seq, outcome.error)
                for half in batch.reject(part, str(outcome.error)):
                    self._window.schedule(batch, half, self._clock())

    def _collect_finished(self) -> None:
        if self._ledger.full:
            return  # commits are failing: finished batches stay in the window, so consumption pauses
        finished = self._window.pop_finished_prefix()
        if not finished:
            return
        now_ms = int(time.time() * 1000)
        for batch in finished:
            self._instruments.batch_finished(batch)
            self._ledger.add(batch, now_ms)

    # ── committing ───────────────────────────────────────────────────────────────────────────
    def _commit(self) -> None:
        try:
            outputs = self._ledger.commit(self._sink, self._clock())
        except DependencyUnavailableError as exc:
            self.health.degrade(exc.dependency, str(exc))
            log.debug("commit failed, retried when due: %s", exc)
            return
        except SinkFailedError:  # fenced (a zombie) or the producer is broken: keep nothing
            self._sink_failed = True
            self._abandon()
            raise
        self.health.recover("audit")
        self.health.recover("kafka")
        self._instruments.committed(outputs)
        self.counts["verdicts"] += len(outputs.verdicts)
        self.counts["dead_letters"] += len(outputs.dead_letters)
        self.counts["duplicates"] += len(outputs.duplicates)
        self.counts["commits"] += 1

    def _abandon(self) -> None:
        """Drop all uncommitted work; it will be read again from the committed offsets."""
        for batch in self._window.clear():
            batch.abandoned = True
        self._batcher.clear()
        self._ledger.abandon()
        self._instruments.abandoned()

    # ── rebalances ───────────────────────────────────────────────────────────────────────────
    def _on_assign(self, consumer: InputConsumer, partitions: Sequence[TopicPartition]) -> None:
        """Start each partition at its committed offset, looked up here rather than left to librdkafka.

        librdkafka's own lookup starts a partition at ``auto.offset.reset`` (the beginning) when the
        group coordinator cannot tell the committed offset yet, because another member's transaction
        holding offsets for it is still open (a worker killed mid-commit leaves one open until
        ``transaction.timeout.ms``), and the assignment changes while it waits: the new owner then
        judged everything the killed worker had committed a second time. (The consumer is
        cooperative, see :func:`~workers.kafka_clients.build_moderation_consumer`: this assigns the
        added partitions, and confluent-kafka assigns nothing more itself.)
        """
        if partitions:
            consumer.incremental_assign(self._committed_starts(consumer, list(partitions)))
        self._quiet_since = self._clock()
        self._ledger.assign(_keys(partitions))
        self.health.joined = True
        self.health.partitions = len(self._ledger.partitions)
        if self._paused and partitions:
            consumer.pause(list(partitions))
        log.info("assigned %s", _names(partitions))

    def _on_revoke(self, consumer: InputConsumer, partitions: Sequence[TopicPartition]) -> None:
        """Finish and commit in-flight work before giving partitions up; else abandon it all."""
        log.info("revoking %s: draining in-flight work", _names(partitions))
        if not self._drain(self._clock() + self._settings.drain_timeout_s):
            log.warning("drain before revoke timed out; abandoning uncommitted work")
            self._abandon()
            revoked = {(tp.topic, tp.partition) for tp in partitions}
            kept = [tp for tp in self._partitions() if (tp.topic, tp.partition) not in revoked]
            self._rewind_to_committed(consumer, kept)
        self._forget(partitions)

    def _on_lost(self, consumer: InputConsumer, partitions: Sequence[TopicPartition]) -> None:
        log.warning("lost %s: abandoning uncommitted work", _names(partitions))
        self.health.joined = False  # not ready until the group assigns partitions again
        self._quiet_since = self._clock()
        self._abandon()
        self._forget(partitions)
        self._rewind_to_committed(consumer, self._partitions())

    def _forget(self, partitions: Sequence[TopicPartition]) -> None:
        if self._paused and partitions:  # librdkafka keeps the pause flag: they would come back paused
            self._consumer.resume(list(partitions))
        self._ledger.forget(_keys(partitions))
        self.health.partitions = len(self._ledger.partitions)

    def behind(self, lag_limit: int) -> bool:
        """Whether the verdict path is behind (asked from other threads): batches queue for Triton beyond
        those in flight, partitions are paused, or more than ``lag_limit`` events lag (librdkafka's last report)."""
        queued = len(self._window) > self._settings.max_in_flight
        return queued or self._paused or sum(self._ledger.lag().values()) > lag_limit

    def _rewind_to_committed(self, consumer: InputConsumer, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        for tp in self._committed_starts(consumer, partitions):
            try:
                consumer.seek(tp)
            except KafkaException as exc:  # not fetching yet: it starts from the committed offset anyway
                log.debug("seek %s[%d] skipped: %s", tp.topic, tp.partition, exc)

    def _committed_starts(self, consumer: InputConsumer, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return committed_starts(consumer, partitions, clock=self._clock, beat=self.health.beat)


Headers = list[tuple[str, bytes | None]]


def _headers(message: Message) -> tuple[Headers | None, PoisonInputError | None]:
    """The record's headers; one header name that is not UTF-8 makes confluent-kafka read none."""
    try:
        # a consumed record's headers are (name, bytes) pairs; the stubs also allow a producer's forms
        return cast(Headers | None, message.headers()), None
    except (SystemError, UnicodeDecodeError) as exc:  # SystemError, caused by the UnicodeDecodeError
        return None, PoisonInputError("invalid_headers", f"headers are unreadable: {exc.__cause__ or exc}")


def _envelope_poison(headers: Headers | None, key: bytes | None) -> PoisonInputError | None:
    """Headers or a key beyond the limits make a record poison before its value is read.

    Its dead letter carries the key cut to KEY_BYTES: the whole key may exceed what a record holds.
    """
    header_bytes = sum(len(name) + len(value or b"") for name, value in headers or ())
    if header_bytes > HEADER_BYTES:
        return PoisonInputError("headers_too_large", f"headers have {header_bytes} bytes, limit {HEADER_BYTES}")
    if key is not None and len(key) > KEY_BYTES:
        return PoisonInputError("key_too_large", f"key has {len(key)} bytes, limit {KEY_BYTES}")
    return None


def _traceparent(headers: Headers | None) -> str | None:
    for name, value in headers or ():
        if name == "traceparent" and value is not None and len(value) == 55:
            text = value.decode("ascii", errors="replace")
            if _TRACEPARENT.match(text):
                return text
    return None


def _keys(partitions: Sequence[TopicPartition]) -> list[tuple[str, int]]:
    return [(tp.topic, tp.partition) for tp in partitions]


def _names(partitions: Sequence[TopicPartition]) -> str:
    return ",".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
