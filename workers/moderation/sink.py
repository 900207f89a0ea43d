"""Where finished batches become durable: the audit store, then one Kafka transaction.

Commit order, and why:

1. upsert the audit rows (verdicts, dead letters, revisions, shadow decisions), keyed so that a replay changes nothing; a
   verdict the database refuses for what it holds becomes a dead letter here (see
   :mod:`~workers.moderation.audit_isolation`); a verdict whose event_id already has one from
   another source position is recorded as a duplicate and set aside (the first position's
   verdict stands; a replay from that same position is no duplicate, so it is produced again);
2. begin the Kafka transaction;
3. produce verdicts (and revisions) to ``moderation.verdicts``, unsafe/uncertain ones also to
   ``moderation.flagged``, rejected inputs to ``moderation.dlq``, events that got a fallback
   verdict (or are still waiting for the model) to ``moderation.rejudge``;
4. add the consumed offsets to the same transaction;
5. commit.

Nothing is committed before its verdict is durable; a crash anywhere before 5 leaves the input
uncommitted, so it is processed again, and ``read_committed`` readers never see the aborted
attempt. A database outage raises :class:`RetriableError` before any transaction begins. How
each Kafka failure is handled (retried, aborted, the producer rebuilt, or the worker stopped) is
written down in :mod:`workers.transactions`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, Producer

from guardstream.settings import TopicSettings
from workers.moderation.audit_isolation import write_isolating
from workers.moderation.collaborators import AuditWriter
from workers.moderation.outputs import BatchOutputs, OutputStamp
from workers.transactions import KafkaTransactions, Outgoing

Encode = Callable[[object, str], bytes]
"""Encodes a record for a topic (the topic picks the registry subject when one is configured)."""


class TransactionalSink:
    def __init__(
        self,
        producer: Producer,
        consumer: Consumer,
        audit: AuditWriter,
        topics: TopicSettings,
        encode: Encode,
        *,
        stamp: OutputStamp,
        retry_timeout_s: float = 120.0,
        rebuild: Callable[[], Producer] | None = None,
        call_timeout_s: float = 10.0,
        call_grace_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._audit = audit
        self._topics = topics
        self._encode = encode
        self._stamp = stamp
        self._transactions = KafkaTransactions(
            producer, consumer, retry_timeout_s=retry_timeout_s, rebuild=rebuild,
            call_timeout_s=call_timeout_s, call_grace_s=call_grace_s, clock=clock, sleep=sleep,
        )  # fmt: skip

    def start(self) -> None:
        """Register the transactional id; this fences any older instance that used it."""
        self._transactions.start()

    def commit(self, outputs: BatchOutputs, positions: dict[tuple[str, int], int]) -> None:
        """Make ``outputs`` durable and move ``positions`` forward, all or nothing.

        Verdicts the audit store refuses for their content are moved to ``outputs``' dead letters,
        duplicates to its duplicates (produced nowhere).
        Raises :class:`RetriableError` when the caller should try again later with the same
        outputs, :class:`~workers.transactions.SinkFailedError` when this instance must stop.
        """
        self._transactions.check()
        write_isolating(self._audit, outputs, self._stamp, int(time.time() * 1000))
        self._transactions.commit(self._records(outputs), positions)

    def abort_if_open(self) -> None:
        """Best effort on shutdown: abort a transaction left open (the next instance would anyway)."""
        self._transactions.abort_if_open()

    def _records(self, outputs: BatchOutputs) -> list[Outgoing]:
        topics, encode = self._topics, self._encode
        records = []
        flagged_revisions = [item for item in outputs.revisions if self._stamp.policy.needs_person(item[2].label)]
        for topic, verdicts in (
            (topics.verdicts, [*outputs.verdicts, *outputs.revisions]),
            (topics.flagged, [*outputs.flagged, *flagged_revisions]),
        ):
            for entry, event, verdict in verdicts:
                key = event.conversation_id.encode("utf-8")
                records.append(Outgoing(topic, key, encode(verdict, topic), entry.traceparent))
        for entry, event in outputs.rejudge:
            key = event.conversation_id.encode("utf-8")
            records.append(Outgoing(topics.rejudge, key, encode(event, topics.rejudge), entry.traceparent))
        for entry, letter in outputs.dead_letters:
            records.append(Outgoing(topics.dlq, letter.key, encode(letter, topics.dlq), entry.traceparent))
        return records
