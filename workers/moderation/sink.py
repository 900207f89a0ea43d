"""Where finished batches become durable: the audit store, then one Kafka transaction.

Commit order, and why:

1. upsert the audit rows (verdicts and dead letters), keyed so that a replay changes nothing;
2. begin the Kafka transaction;
3. produce verdicts to ``moderation.verdicts``, unsafe/uncertain ones also to
   ``moderation.flagged``, rejected inputs to ``moderation.dlq``;
4. add the consumed offsets to the same transaction;
5. commit.

Nothing is committed before its verdict is durable; a crash anywhere before 5 leaves the input
uncommitted, so it is processed again, and ``read_committed`` readers never see the aborted
attempt. A database outage raises :class:`RetriableError` before any transaction begins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from guardstream.audit.store import AuditStore
from guardstream.errors import RetriableError
from guardstream.policy import Policy
from guardstream.settings import TopicSettings
from workers.moderation.outputs import BatchOutputs

log = logging.getLogger(__name__)

Encode = Callable[[object, str], bytes]
"""Encodes a record for a topic (the topic picks the registry subject when one is configured)."""


class TransactionalSink:
    def __init__(
        self,
        producer: Producer,
        consumer: Consumer,
        audit: AuditStore,
        topics: TopicSettings,
        encode: Encode,
    ) -> None:
        self._producer = producer
        self._consumer = consumer
        self._audit = audit
        self._topics = topics
        self._encode = encode

    def start(self) -> None:
        self._producer.init_transactions(30)

    def commit(self, outputs: BatchOutputs, positions: dict[tuple[str, int], int]) -> None:
        """Make ``outputs`` durable and move ``positions`` forward, all or nothing."""
        self._audit.write(
            [(event, verdict) for _, event, verdict in outputs.verdicts],
            [letter for _, letter in outputs.dead_letters],
        )
        try:
            self._producer.begin_transaction()
            self._produce(outputs)
            offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in positions.items()]
            self._producer.send_offsets_to_transaction(
                offsets, self._consumer.consumer_group_metadata(), 30
            )
            self._producer.commit_transaction(30)
        except KafkaException as exc:
            error = exc.args[0]
            if error.txn_requires_abort():
                self._producer.abort_transaction(30)
            if error.retriable() or error.txn_requires_abort():
                raise RetriableError(f"Kafka transaction failed, will retry: {error.str()}") from exc
            raise

    def abort_if_open(self) -> None:
        try:
            self._producer.abort_transaction(10)
        except KafkaException:
            pass

    def _produce(self, outputs: BatchOutputs) -> None:
        topics = self._topics
        for entry, event, verdict in outputs.verdicts:
            key = event.conversation_id.encode("utf-8")
            headers = _trace_headers(entry.traceparent)
            self._send(topics.verdicts, key, self._encode(verdict, topics.verdicts), headers)
            if Policy.needs_person(verdict.label):
                self._send(topics.flagged, key, self._encode(verdict, topics.flagged), headers)
        for entry, letter in outputs.dead_letters:
            self._send(topics.dlq, entry.key, self._encode(letter, topics.dlq), _trace_headers(entry.traceparent))

    def _send(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None) -> None:
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers)
                return
            except BufferError:
                self._producer.poll(0.05)


def _trace_headers(traceparent: str | None) -> list[tuple[str, bytes]] | None:
    """The W3C trace context travels on from the input record to its outputs."""
    return None if traceparent is None else [("traceparent", traceparent.encode("ascii"))]
