"""An in-memory stand-in for a consumed ``confluent_kafka.Message`` (unit tests of the worker loop)."""

from __future__ import annotations

from dataclasses import dataclass


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
