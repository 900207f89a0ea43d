"""The worker's serde: decode ChatEvents from any accepted format, encode and decode output records.

Input format is sniffed from the first bytes:

* ``C3 01`` — Avro single-object encoding (the default, no registry needed);
* ``00`` — Confluent schema-registry framing, only when a registry deserializer is configured;
* ``{`` or ``[`` after optional whitespace — JSON (only an object is accepted).

:meth:`ChatEventDecoder.decode` raises :class:`PoisonInputError` for every input it cannot turn into
a valid ChatEvent, with a ``kind`` and a precise reason; the only other error it lets through is
:class:`RetriableError` from a configured registry that cannot be reached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from guardstream.errors import PoisonInputError, RetriableError
from guardstream.limits import TEXT_CHARS, Limits
from guardstream.records import Action, Analysis, ChatEvent, DeadLetter, Feedback, Verdict
from guardstream.serde import single_object
from guardstream.serde.json_codec import chat_event_from_json, parse_json_object
from guardstream.serde.schemas import SchemaSet, SchemaVersion, default_schema_set
from guardstream.serde.validation import check_encodable, check_event
from guardstream.streaming.records import ReplyChunk, StreamRetraction, StreamVerdict

RegistryDeserializer = Callable[[bytes], dict[str, Any]]
"""Reads a Confluent-framed payload into a record dict (see ``ConfluentSerde.deserializer``)."""
RegistrySerializer = Callable[[dict[str, Any]], bytes]

DEFAULT_MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
_JSON_START = frozenset(b"{[")
_WHITESPACE = b" \t\r\n"

R = TypeVar(
    "R", ChatEvent, Verdict, DeadLetter, Feedback, Action, Analysis, ReplyChunk, StreamVerdict, StreamRetraction
)


class ChatEventDecoder:
    """Turns one Kafka message value into a validated :class:`ChatEvent`, or poison."""

    def __init__(
        self,
        max_text_chars: int = TEXT_CHARS,
        registry_deserializer: RegistryDeserializer | None = None,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        limits: Limits | None = None,
        schemas: SchemaSet | None = None,
    ) -> None:
        self.limits = limits or Limits.for_text(max_text_chars)
        self.max_payload_bytes = max_payload_bytes
        self._registry = registry_deserializer
        self._schemas = schemas or default_schema_set()
        self._current = self._schemas.get(ChatEvent.AVRO_NAME)

    def decode(self, payload: bytes | None) -> ChatEvent:
        """Decode and validate; raises :class:`PoisonInputError` for anything unusable."""
        if payload is None:
            raise PoisonInputError("empty_payload", "message has no value (null payload)")
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise PoisonInputError("wrong_type", f"payload must be bytes, got {type(payload).__name__}")
        payload = bytes(payload)
        size = len(payload)
        if size == 0:
            raise PoisonInputError("empty_payload", "message value is empty (0 bytes)")
        if size > self.max_payload_bytes:
            raise PoisonInputError("payload_too_large", f"payload has {size} bytes, limit {self.max_payload_bytes}")
        first = payload[0]
        if first == 0xC3:
            if size < 2 or payload[1] != 0x01:
                raise PoisonInputError(
                    "unknown_format",
                    f"starts with C3 but not the single-object marker C3 01: {payload[:2].hex()}",
                )
            return self._decode_single_object(payload)
        if first == 0x00:
            return self._decode_confluent(payload)
        stripped = payload.lstrip(_WHITESPACE)
        if not stripped:
            raise PoisonInputError("empty_payload", f"payload is only whitespace ({size} bytes)")
        if stripped[0] in _JSON_START:
            event = chat_event_from_json(parse_json_object(payload))
            check_encodable(event)
            return check_event(event, self.limits)
        raise PoisonInputError(
            "unknown_format",
            f"unknown format: first bytes {payload[:4].hex()} are neither the Avro single-object "
            "marker C3 01, the Confluent magic byte 00, nor a JSON object",
        )

    def _decode_single_object(self, payload: bytes) -> ChatEvent:
        writer = single_object.writer_version(self._schemas, payload, ChatEvent.AVRO_NAME)
        datum = single_object.read_body(self._schemas, writer, payload)
        return check_event(ChatEvent.from_avro(datum), self.limits)

    def _decode_confluent(self, payload: bytes) -> ChatEvent:
        if self._registry is None:
            raise PoisonInputError(
                "unknown_format",
                "payload starts with 00 (Confluent schema-registry framing) but no schema registry is configured",
            )
        try:
            datum = self._registry(payload)
            event = ChatEvent.from_avro(datum)
        except (PoisonInputError, RetriableError):
            raise
        except Exception as exc:
            raise PoisonInputError(
                "malformed_avro", f"Confluent-framed payload unreadable: {type(exc).__name__}: {exc}"
            ) from None
        return check_event(event, self.limits)


class AvroEncoder:
    """Encodes output records: single-object encoding, or Confluent framing when configured.

    ``confluent`` is a ``ConfluentSerde``; with it, ``topic`` picks the subject ``<topic>-value``.
    """

    def __init__(self, confluent: Any | None = None, *, schemas: SchemaSet | None = None) -> None:
        self._schemas = schemas or default_schema_set()
        self._confluent = confluent
        self._versions: dict[type, SchemaVersion] = {}
        self._serializers: dict[tuple[type, str | None], RegistrySerializer] = {}

    def _version(self, cls: type) -> SchemaVersion:
        version = self._versions.get(cls)
        if version is None:
            version = self._versions[cls] = self._schemas.get(cls.AVRO_NAME)  # type: ignore[attr-defined]  # record classes carry AVRO_NAME; type[T] cannot say so
        return version

    def encode(self, record: Any, topic: str | None = None) -> bytes:
        cls = type(record)
        if self._confluent is None:
            return single_object.encode(self._version(cls), record.to_avro())
        ser = self._serializers.get((cls, topic))
        if ser is None:
            ser = self._serializers[(cls, topic)] = self._confluent.serializer(self._version(cls), topic)
        return ser(record.to_avro())


class AvroDecoder:
    """Decodes output records written by :class:`AvroEncoder` (either framing)."""

    def __init__(self, confluent: Any | None = None, *, schemas: SchemaSet | None = None) -> None:
        self._schemas = schemas or default_schema_set()
        self._confluent = confluent
        self._deserializers: dict[type, RegistryDeserializer] = {}

    def decode(self, cls: type[R], payload: bytes | None) -> R:
        name = cls.AVRO_NAME
        if not payload:
            raise PoisonInputError("empty_payload", f"empty payload, expected a {name}")
        payload = bytes(payload)
        if payload[:2] == single_object.MARKER:
            writer = single_object.writer_version(self._schemas, payload, name)
            datum = single_object.read_body(self._schemas, writer, payload)
        elif payload[0] == 0x00 and self._confluent is not None:
            de = self._deserializers.get(cls)
            if de is None:
                de = self._deserializers[cls] = self._confluent.deserializer(self._schemas.get(name))
            datum = de(payload)
        else:
            raise PoisonInputError("unknown_format", f"not an Avro single-object (or configured Confluent) {name}")
        try:
            return cls.from_avro(datum)
        except (KeyError, ValueError, TypeError) as exc:
            raise PoisonInputError("wrong_schema", f"not a {name}: {exc}") from None


_default_encoder: AvroEncoder | None = None
_default_decoder: AvroDecoder | None = None


def encode_record(record: Any) -> bytes:
    """Single-object encoding of ``record`` with this checkout's schemas."""
    global _default_encoder
    if _default_encoder is None:
        _default_encoder = AvroEncoder()
    return _default_encoder.encode(record)


def decode_record(cls: type[R], payload: bytes) -> R:
    """Decode a single-object encoded ``cls`` record; bad input raises PoisonInputError."""
    global _default_decoder
    if _default_decoder is None:
        _default_decoder = AvroDecoder()
    return _default_decoder.decode(cls, payload)
