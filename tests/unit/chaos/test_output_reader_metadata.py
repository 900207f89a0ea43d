"""The chaos reader waits for a freshly created topic to show in the broker's metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from devtools.chaos.tally import OutputReader
from guardstream.settings import KafkaSettings, TopicSettings


@dataclass
class TopicMetadataStub:
    partitions: dict[int, object]


@dataclass
class Metadata:
    topics: dict[str, TopicMetadataStub]


@dataclass
class LaggingMetadataConsumer:
    """Answers list_topics without the verdict topic ``lagging`` times, then with every topic."""

    names: tuple[str, ...]
    lagging: int
    calls: int = 0
    assigned: list[Any] = field(default_factory=list)

    def list_topics(self, timeout: float) -> Metadata:
        self.calls += 1
        shown = self.names[1:] if self.calls <= self.lagging else self.names
        return Metadata({name: TopicMetadataStub({p: object() for p in range(3)}) for name in shown})

    def assign(self, partitions: list[Any]) -> None:
        self.assigned = partitions


def _reader(consumer: LaggingMetadataConsumer) -> OutputReader:
    reader = OutputReader(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"), TopicSettings(verdicts="v", flagged="f", dlq="d")
    )
    reader._consumer = consumer  # type: ignore[assignment]
    return reader


def test_a_topic_missing_from_the_first_metadata_answer_is_waited_for() -> None:
    consumer = LaggingMetadataConsumer(("v", "f", "d"), lagging=2)
    reader = _reader(consumer)
    assert reader._partitions(("v", "f", "d"), timeout_s=5.0) == {"v": 3, "f": 3, "d": 3}
    assert consumer.calls == 3


def test_a_topic_that_never_shows_is_named_in_the_error() -> None:
    reader = _reader(LaggingMetadataConsumer(("v", "f", "d"), lagging=10**6))
    with pytest.raises(RuntimeError, match=r"\['v'\]"):
        reader._partitions(("v", "f", "d"), timeout_s=0.5)
