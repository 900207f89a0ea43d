"""Where analyses become durable: the audit store, then one Kafka transaction.

Commit order, as in the moderation sink (:mod:`workers.moderation.sink`):

1. upsert the analyses (keyed by event_id: a replay changes nothing) and any dead letters;
2. in one Kafka transaction, produce the analyses to ``moderation.analyses`` and the dead letters
   (flagged records that are no Verdict) to ``moderation.dlq``, add the consumed offsets of
   ``moderation.flagged`` and commit (:class:`~workers.transactions.KafkaTransactions`).

A crash before the commit leaves the flagged records uncommitted: they are read again and their
analyses, found in the audit store, are produced again in a new transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from guardstream.records import Analysis, ChatEvent, DeadLetter, Verdict
from guardstream.settings import TopicSettings
from workers.transactions import KafkaTransactions, Outgoing

Encode = Callable[[object, str], bytes]


class AnalysisRecords(Protocol):
    """What the sink writes to :class:`guardstream.audit.store.AuditStore`."""

    def record_analyses(self, analyses: Sequence[Analysis]) -> None: ...

    def write(self, verdicts: Sequence[tuple[ChatEvent, Verdict]], dead: Sequence[DeadLetter]) -> object: ...


class AnalysisSink:
    def __init__(
        self, transactions: KafkaTransactions, audit: AnalysisRecords, topics: TopicSettings, encode: Encode
    ) -> None:
        self._transactions = transactions
        self._audit = audit
        self._topics = topics
        self._encode = encode

    def start(self) -> None:
        self._transactions.start()

    def commit(
        self,
        analyses: Sequence[tuple[bytes | None, Analysis]],
        dead_letters: Sequence[DeadLetter],
        positions: dict[tuple[str, int], int],
    ) -> None:
        """Record and produce ``analyses`` (each with its Kafka key) and move ``positions``, all or nothing."""
        self._transactions.check()
        self._audit.record_analyses([analysis for _, analysis in analyses])
        if dead_letters:
            self._audit.write([], dead_letters)
        topics = self._topics
        records = [
            Outgoing(topics.analyses, key, self._encode(analysis, topics.analyses)) for key, analysis in analyses
        ] + [Outgoing(topics.dlq, letter.key, self._encode(letter, topics.dlq)) for letter in dead_letters]
        self._transactions.commit(records, positions)

    def abort_if_open(self) -> None:
        self._transactions.abort_if_open()
