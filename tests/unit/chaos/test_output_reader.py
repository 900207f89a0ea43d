"""The chaos reader's "read to the end" check, and its replacement when it stalls, across a broker restart."""

from __future__ import annotations

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from guardstream.settings import KafkaSettings, TopicSettings
from workers.chaos.tally import OutputReader, behind, caught_up


class Reader:
    def __init__(self, position: int, high: int | KafkaException) -> None:
        self._position, self._high = position, high

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("moderation.verdicts", 0)]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self._position) for tp in partitions]

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float) -> tuple[int, int]:
        if isinstance(self._high, KafkaException):
            raise self._high
        return 0, self._high


def test_a_partition_the_client_does_not_know_yet_after_a_broker_restart_is_not_caught_up() -> None:
    unknown = KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION, "Failed to get watermark offsets"))
    assert caught_up(Reader(10, unknown)) is False  # type: ignore[arg-type]


def test_caught_up_means_past_every_end_offset() -> None:
    assert caught_up(Reader(10, 10)) is True  # type: ignore[arg-type]
    assert caught_up(Reader(9, 10)) is False  # type: ignore[arg-type]


class StalledReader(Reader):
    """Receives nothing; records what a replacement is given."""

    def __init__(self, position: int, high: int) -> None:
        super().__init__(position, high)
        self.assigned: list[TopicPartition] = []
        self.closed = False

    def consume(self, num_messages: int, timeout: float) -> list[object]:
        return []

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def close(self) -> None:
        self.closed = True


def _reader(first: StalledReader, replacements: list[StalledReader], stall_s: float) -> OutputReader:
    reader = OutputReader(KafkaSettings(bootstrap_servers="127.0.0.1:1"), TopicSettings(), stall_s=stall_s)
    reader._consumer.close()
    reader._consumer = first  # type: ignore[assignment]
    reader._new_consumer = lambda: replacements.pop(0)  # type: ignore[method-assign]
    return reader


def test_a_reader_that_receives_nothing_while_records_lie_ahead_is_replaced_at_its_position() -> None:
    stalled, fresh = StalledReader(7, 12), StalledReader(7, 12)
    reader = _reader(stalled, [fresh], stall_s=0.0)
    reader._replace_if_stalled()
    assert reader.rebuilds == 1 and stalled.closed
    assert [(tp.topic, tp.partition, tp.offset) for tp in fresh.assigned] == [("moderation.verdicts", 0, 7)]
    assert reader.lagging() == ["moderation.verdicts[0] at 7 of 12"]


def test_a_reader_that_never_fetched_is_replaced_from_the_beginning() -> None:
    fresh = StalledReader(-1001, 12)
    reader = _reader(StalledReader(-1001, 12), [fresh], stall_s=0.0)
    reader._replace_if_stalled()
    assert fresh.assigned[0].offset == OFFSET_BEGINNING


def test_a_reader_at_the_end_or_within_its_stall_time_is_kept() -> None:
    at_end = _reader(StalledReader(12, 12), [], stall_s=0.0)
    at_end._replace_if_stalled()
    recent = _reader(StalledReader(7, 12), [], stall_s=60.0)
    recent._replace_if_stalled()
    assert at_end.rebuilds == recent.rebuilds == 0
    assert behind(StalledReader(12, 12)) == []  # type: ignore[arg-type]
