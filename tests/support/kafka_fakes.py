"""In-memory stand-ins for confluent-kafka objects (unit tests of the worker and analysis loops)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_INVALID, TopicPartition


@dataclass
class FakeMessage:
    _value: bytes | None
    _offset: int
    _headers: list[tuple[str, bytes]] | None = None
    _partition: int = 0
    _topic: str = "chat.events"
    _key: bytes | None = b"k"

    def error(self) -> None:
        return None

    def value(self) -> bytes | None:
        return self._value

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers


@dataclass
class Transaction:
    """What one committed transaction carried: (topic, key, value) records and the offsets."""

    records: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)


@dataclass
class ScriptedProducer:
    """Each transactional call pops its next scripted outcome: an exception, a blocker, or success.

    Records produced and offsets sent inside a transaction land in ``committed`` only when its
    commit succeeds; an abort drops them, as a ``read_committed`` reader would never see them.
    """

    script: dict[str, list[object]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    committed: list[Transaction] = field(default_factory=list)
    _open: Transaction = field(default_factory=Transaction)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        steps = self.script.get(name)
        if steps:
            step = steps.pop(0)
            if isinstance(step, threading.Event):
                step.wait(10)
            elif isinstance(step, BaseException):
                raise step

    def init_transactions(self, timeout: float) -> None:
        self._call("init_transactions")

    def begin_transaction(self) -> None:
        self._call("begin_transaction")
        self._open = Transaction()

    def send_offsets_to_transaction(self, offsets: list, metadata: object, timeout: float) -> None:
        self._call("send_offsets_to_transaction")
        self._open.offsets.update({(tp.topic, tp.partition): tp.offset for tp in offsets})

    def commit_transaction(self, timeout: float) -> None:
        self._call("commit_transaction")
        self.committed.append(self._open)
        self._open = Transaction()

    def abort_transaction(self, timeout: float) -> None:
        self._call("abort_transaction")
        self._open = Transaction()

    def produce(self, topic: str, value: bytes, key: bytes | None = None, headers: object = None) -> None:
        self.calls.append("produce")
        self._open.records.append((topic, key, value))

    def poll(self, timeout: float) -> int:
        return 0

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
        self.calls.append("purge")
        self._open.records.clear()


@dataclass
class FakeGroupConsumer:
    """Only what a transaction asks of the consumer: its group metadata, and the group's committed
    offsets (``OFFSET_INVALID`` where none is committed) when a commit's outcome must be settled."""

    committed_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def consumer_group_metadata(self) -> object:
        return object()

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.committed_offsets.get((tp.topic, tp.partition), OFFSET_INVALID))
            for tp in partitions
        ]
