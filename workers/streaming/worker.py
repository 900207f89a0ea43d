"""The stream worker's loop: read chunks, run a cycle, make its outputs durable, all or nothing.

    reply-chunks ─► Cycle (stream models via Triton sequences; the plain guard for whole replies)
                      │ outputs + the streams' progress
                      ▼
        audit store (final verdicts) ─► one Kafka transaction: stream verdicts and retractions,
        final verdicts (and flagged), dead letters, the streams' progress (changelog), input offsets

A cycle that fails (Triton or the database away, the Kafka transaction aborted) is run again from
the same chunks and the same progress, on a backoff schedule: the stream models rewind to the
characters the progress holds, so the replayed scores are the ones the first attempt got. Past
``retry_timeout_s`` the worker stops; a restart (or another member of the group) restores the open
streams from the changelog and resumes at the committed offsets. Nothing is committed before it is
durable, and ``read_committed`` readers never see an aborted attempt, so after a kill -9 every
stream still gets exactly one final verdict and its provisional decisions are never produced twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from guardstream.errors import RetriableError
from guardstream.policy import Policy
from guardstream.settings import StreamSettings, TopicSettings
from guardstream.streaming.progress import StreamProgress
from workers.kafka_clients import committed_starts, position_of
from workers.moderation.collaborators import AuditWriter
from workers.retry import Backoff
from workers.streaming.changelog import restore
from workers.streaming.cycle import Cycle, CycleOutputs, Read
from workers.transactions import KafkaTransactions, Outgoing

log = logging.getLogger(__name__)

Encode = Callable[[object, str], bytes]


class StreamWorker:
    def __init__(
        self,
        settings: StreamSettings,
        topics: TopicSettings,
        policy: Policy,
        consumer: Consumer,
        transactions: KafkaTransactions,
        audit: AuditWriter,
        cycle: Cycle,
        encode: Encode,
        new_reader: Callable[[], Consumer],
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._policy = policy
        self._consumer = consumer
        self._transactions = transactions
        self._audit = audit
        self._cycle = cycle
        self._encode = encode
        self._new_reader = new_reader
        self._streams: dict[str, StreamProgress] = {}
        self._partitions: dict[int, set[str]] = {}
        self.cycles = 0

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def run(self, stop: threading.Event) -> None:
        self._transactions.start()
        self._consumer.subscribe(
            [self._topics.reply_chunks], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        try:
            while not stop.is_set():
                reads = self._poll()
                if reads:
                    self._process(reads)
        finally:
            self._transactions.abort_if_open()
            self._consumer.close()

    def _poll(self) -> list[Read]:
        reads = []
        for message in self._consumer.consume(self._settings.max_poll_records, timeout=0.2):
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer: %s", error.str())
                continue
            topic, partition, offset = position_of(message)
            reads.append(Read(topic, partition, offset, message.key(), message.value()))
        return reads

    def _process(self, reads: list[Read]) -> None:
        deadline = time.monotonic() + self._settings.retry_timeout_s
        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                outputs = self._cycle.run(reads, self._streams)
                self._expire_markers(outputs)
                self._commit(outputs)
                break
            except RetriableError as exc:
                if time.monotonic() >= deadline:
                    raise
                delay = backoff.next_delay()
                log.warning("cycle of %d chunks failed, again in %.1fs: %s", len(reads), delay, exc)
                time.sleep(delay)
        for (partition, stream_id), progress in outputs.progress.items():
            if progress is None:
                self._streams.pop(stream_id, None)
                self._partitions[partition].discard(stream_id)
            else:
                self._streams[stream_id] = progress
                self._partitions.setdefault(partition, set()).add(stream_id)
        self.cycles += 1

    def _expire_markers(self, outputs: CycleOutputs) -> None:
        """Forget finished streams whose marker is older than ``finished_retention_s`` (a tombstone each)."""
        oldest = int(time.time() * 1000) - int(self._settings.finished_retention_s * 1000)
        for partition, stream_ids in self._partitions.items():
            for stream_id in stream_ids:
                finished_at = self._streams[stream_id].finished_at_ms
                if finished_at is not None and finished_at < oldest:
                    outputs.progress.setdefault((partition, stream_id), None)

    def _commit(self, outputs: CycleOutputs) -> None:
        self._transactions.check()
        duplicates = self._audit.write(outputs.finals, outputs.dead_letters)
        if duplicates:
            kept = {duplicate.event_id for duplicate in duplicates}
            log.warning("final verdicts set aside as duplicates (their stream has one already): %s", sorted(kept))
            outputs.finals = [(event, verdict) for event, verdict in outputs.finals if verdict.event_id not in kept]
        self._transactions.commit(self._records(outputs), outputs.positions)

    def _records(self, outputs: CycleOutputs) -> list[Outgoing]:
        topics, encode = self._topics, self._encode
        records = [
            Outgoing(topics.stream_verdicts, record.stream_id.encode("utf-8"), encode(record, topics.stream_verdicts))
            for record in outputs.stream_records
        ]
        for event, verdict in outputs.finals:
            key = event.conversation_id.encode("utf-8")
            records.append(Outgoing(topics.verdicts, key, encode(verdict, topics.verdicts)))
            if self._policy.needs_person(verdict.label):
                records.append(Outgoing(topics.flagged, key, encode(verdict, topics.flagged)))
        for letter in outputs.dead_letters:
            records.append(Outgoing(topics.dlq, letter.key, encode(letter, topics.dlq)))
        for (partition, stream_id), progress in outputs.progress.items():
            value = progress.encode() if progress is not None else None
            records.append(Outgoing(topics.stream_state, stream_id.encode("utf-8"), value, partition=partition))
        return records

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            restored = restore(self._new_reader, self._topics.stream_state, tp.partition)
            self._streams.update(restored)
            self._partitions[tp.partition] = set(restored)
            log.info("partition %d assigned: %d open streams restored", tp.partition, len(restored))
        consumer.incremental_assign(committed_starts(consumer, partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            for stream_id in self._partitions.pop(tp.partition, set()):
                self._streams.pop(stream_id, None)
