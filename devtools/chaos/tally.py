"""The output side of a chaos run: read every output topic with ``read_committed`` and count.

A reader thread counts verdicts and dead letters by the source position they name, and flagged
records by event id. Duplicates are counted, never collapsed: that is what the run is checking.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from devtools.chaos.stream import QUIET, Position
from guardstream.records import DeadLetter, Decider, Verdict
from guardstream.serde.codec import AvroDecoder
from guardstream.settings import KafkaSettings, TopicSettings
from workers.kafka_clients import build_reader


@dataclass
class OutputTally:
    verdicts: Counter[Position] = field(default_factory=Counter)
    verdict_ids: dict[Position, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    dead_letters: Counter[Position] = field(default_factory=Counter)
    letters: dict[Position, DeadLetter] = field(default_factory=dict)
    flagged: Counter[str] = field(default_factory=Counter)
    foreign: int = 0
    """Records naming another input topic (must stay 0: topics are fresh per run)."""
    fallback_ids: set[str] = field(default_factory=set)
    """Events whose verdict was a fallback verdict (the model was away)."""
    revisions: Counter[str] = field(default_factory=Counter)
    """Revisions (the model's verdicts after a fallback verdict) on the verdicts topic, by event_id."""
    flagged_revisions: Counter[str] = field(default_factory=Counter)

    def positions(self) -> set[Position]:
        """The input positions with an output."""
        return set(self.verdicts.keys() | self.dead_letters.keys())


def caught_up(consumer: Consumer) -> bool:
    """Whether ``consumer`` has passed the end of every assigned partition.

    Right after a broker restart the client may not know a partition yet ("Unknown partition"):
    that is "not yet", never a failure.
    """
    return next(_lagging(consumer), None) is None


def behind(consumer: Consumer) -> list[str]:
    """``topic[partition] at <position> of <high watermark>`` for each partition not read to its end."""
    return list(_lagging(consumer))


def _lagging(consumer: Consumer) -> Iterator[str]:
    """Each assigned partition ``consumer`` has not passed the end of, described, one at a time."""
    for tp in consumer.position(consumer.assignment()):
        try:
            _, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
        except KafkaException as exc:
            yield f"{tp.topic}[{tp.partition}] (no watermarks: {exc})"
            continue
        if high > 0 and (tp.offset < 0 or tp.offset < high):
            yield f"{tp.topic}[{tp.partition}] at {tp.offset} of {high}"


class OutputReader:
    """Reads the run's verdict, flagged and DLQ topics from the start, on its own thread."""

    def __init__(self, kafka: KafkaSettings, topics: TopicSettings) -> None:
        self._topics = topics
        self._consumer: Consumer = build_reader(kafka, f"chaos-reader-{uuid.uuid4().hex[:8]}", log_level=QUIET)
        self._decoder = AvroDecoder()
        self.tally = OutputTally()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout_s: float = 30.0) -> None:
        names = (self._topics.verdicts, self._topics.flagged, self._topics.dlq)
        self._consumer.assign(
            [
                TopicPartition(name, p, OFFSET_BEGINNING)
                for name, count in self._partitions(names, timeout_s).items()
                for p in range(count)
            ]
        )
        self._thread.start()

    def _partitions(self, names: tuple[str, ...], timeout_s: float) -> dict[str, int]:
        """Partition counts of ``names``, once the broker's metadata shows them all: a topic created a
        moment ago can be missing from the first answer (seen after a broker restart)."""
        deadline = time.monotonic() + timeout_s
        while True:
            metadata = self._consumer.list_topics(timeout=max(1.0, deadline - time.monotonic())).topics
            counts = {
                name: len(metadata[name].partitions) for name in names if name in metadata and metadata[name].partitions
            }
            if len(counts) == len(names):
                return counts
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"topics {sorted(set(names) - set(counts))} not in the broker's metadata after {timeout_s:.0f}s"
                )
            time.sleep(0.2)

    def read_to_end(self, timeout_s: float) -> bool:
        """Wait until the reader has passed every partition's end offset (no open transactions)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if caught_up(self._consumer):
                    return True
            time.sleep(0.5)
        return False

    def lagging(self) -> list[str]:
        """The partitions this reader has not read to their end, with its position and their end."""
        with self._lock:
            return behind(self._consumer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()

    def _run(self) -> None:
        topics = self._topics
        while not self._stop.is_set():
            with self._lock:
                messages = self._consumer.consume(num_messages=1000, timeout=0.2)
            for message in messages:
                if message.error() is not None:
                    continue
                if message.topic() == topics.dlq:
                    self._count_letter(self._decoder.decode(DeadLetter, message.value()))
                elif message.topic() == topics.verdicts:
                    self._count_verdict(self._decoder.decode(Verdict, message.value()))
                else:
                    flagged = self._decoder.decode(Verdict, message.value())
                    counts = self.tally.flagged_revisions if flagged.revision else self.tally.flagged
                    counts[flagged.event_id] += 1
            if not messages:
                time.sleep(0.05)

    def _count_verdict(self, verdict: Verdict) -> None:
        if verdict.revision and verdict.source_topic == self._topics.rejudge:
            self.tally.revisions[verdict.event_id] += 1
            return
        if verdict.decided_by is Decider.FALLBACK:
            self.tally.fallback_ids.add(verdict.event_id)
        if verdict.source_topic != self._topics.chat_events:
            self.tally.foreign += 1
            return
        position = (verdict.source_partition, verdict.source_offset)
        self.tally.verdicts[position] += 1
        self.tally.verdict_ids[position] = verdict.event_id
        self.tally.labels[verdict.event_id] = verdict.label.value

    def _count_letter(self, letter: DeadLetter) -> None:
        if letter.source_topic != self._topics.chat_events:
            self.tally.foreign += 1
            return
        position = (letter.source_partition, letter.source_offset)
        self.tally.dead_letters[position] += 1
        self.tally.letters[position] = letter
