"""The chaos reader's "read to the end" check across a broker restart, and what it says when it cannot."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from devtools.chaos.tally import behind, caught_up


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


def test_a_reader_behind_names_each_partition_with_its_position_and_end() -> None:
    assert behind(Reader(7, 12)) == ["moderation.verdicts[0] at 7 of 12"]  # type: ignore[arg-type]
    assert behind(Reader(12, 12)) == []  # type: ignore[arg-type]
