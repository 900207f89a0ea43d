"""Confluent schema-registry framing: ``00 | schema id (4 bytes, big-endian) | Avro binary``.

Used only when a registry URL is configured. The registry client and the (de)serializers are
confluent-kafka's own (``SchemaRegistryClient``, ``AvroSerializer``, ``AvroDeserializer``);
``confluent_kafka.schema_registry`` is imported when a :class:`ConfluentSerde` is built, never at
import time, so the single-object path works without the registry extras installed. A
``mock://…`` URL gives the library's in-memory registry (tests).

Subjects: ``<topic>-value`` when a topic is given (confluent's TopicNameStrategy), else the
record's full name (RecordNameStrategy).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from guardstream.errors import ConfigurationError, PoisonInputError, RetriableError
from guardstream.serde.schemas import SchemaVersion

MAGIC = b"\x00"
HEADER_SIZE = 5


def _import_schema_registry() -> Any:
    try:
        from confluent_kafka import schema_registry, serialization
        from confluent_kafka.schema_registry import avro, error  # noqa: F401  (error: below)
    except ImportError as exc:  # the extras bring authlib, cachetools, httpx
        raise ConfigurationError(
            "a schema registry is configured but confluent_kafka.schema_registry cannot be "
            f"imported ({exc}); install confluent-kafka[avro,schemaregistry]"
        ) from exc
    return schema_registry, avro, serialization


class ConfluentSerde:
    """Registry-backed serializers and deserializers, built once per record and topic."""

    def __init__(self, client: Any, *, auto_register: bool = True) -> None:
        self._sr, self._avro, self._ser = _import_schema_registry()
        self._client = client
        self._auto_register = auto_register
        self._serializers: dict[tuple[str, str], Any] = {}
        self._deserializers: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, auto_register: bool = True, **client_conf: Any) -> ConfluentSerde:
        """Build the registry client for ``url`` (``mock://name`` for the in-memory one)."""
        sr, _, _ = _import_schema_registry()
        client = sr.SchemaRegistryClient.new_client({"url": url, **client_conf})
        return cls(client, auto_register=auto_register)

    @property
    def client(self) -> Any:
        return self._client

    def serializer(self, version: SchemaVersion, topic: str | None = None) -> Callable[[dict[str, Any]], bytes]:
        """A callable writing one record dict with the Confluent framing."""
        key = (version.name, topic or "")
        with self._lock:
            ser = self._serializers.get(key)
            if ser is None:
                subject = f"{topic}-value" if topic else version.name
                ser = self._avro.AvroSerializer(
                    self._client,
                    version.json,
                    conf={
                        "auto.register.schemas": self._auto_register,
                        "subject.name.strategy": lambda ctx, record_name: subject,
                    },
                )
                self._serializers[key] = ser
        ctx = self._ser.SerializationContext(topic or "", self._ser.MessageField.VALUE)
        return lambda datum: ser(datum, ctx)

    def deserializer(self, version: SchemaVersion) -> Callable[[bytes], dict[str, Any]]:
        """A callable reading a framed payload into ``version`` (the reader schema).

        Raises :class:`PoisonInputError` for bytes that can never be read (unknown schema id,
        bad body) and :class:`RetriableError` when the registry cannot be reached.
        """
        with self._lock:
            de = self._deserializers.get(version.name)
            if de is None:
                de = self._avro.AvroDeserializer(self._client, version.json)
                self._deserializers[version.name] = de
        ctx = self._ser.SerializationContext("", self._ser.MessageField.VALUE)
        registry_error = self._sr.error.SchemaRegistryError  # imported with the module

        def deserialize(payload: bytes) -> dict[str, Any]:
            if len(payload) < HEADER_SIZE:
                raise PoisonInputError(
                    "truncated_header",
                    f"Confluent header needs {HEADER_SIZE} bytes, payload has {len(payload)}",
                )
            try:
                datum = de(payload, ctx)
            except registry_error as exc:
                if exc.http_status_code in (404, 422) or 40400 <= exc.error_code < 42300:
                    schema_id = int.from_bytes(payload[1:HEADER_SIZE], "big")
                    raise PoisonInputError(
                        "unknown_schema", f"schema id {schema_id} unknown to the registry: {exc}"
                    ) from None
                raise RetriableError(f"schema registry failed: {exc}") from exc
            except (OSError, TimeoutError) as exc:
                raise RetriableError(f"schema registry unreachable: {exc}") from exc
            except UnicodeDecodeError as exc:
                raise PoisonInputError("invalid_utf8", f"invalid UTF-8 in an Avro string: {exc}") from None
            except Exception as exc:  # untrusted bytes into a third-party parser
                if _is_network_error(exc):
                    raise RetriableError(f"schema registry unreachable: {exc}") from exc
                raise PoisonInputError(
                    "malformed_avro",
                    f"Confluent-framed body is not a valid {version.name}: {type(exc).__name__}: {exc}",
                ) from None
            if not isinstance(datum, dict):
                raise PoisonInputError("wrong_schema", f"payload is not a {version.name} record")
            return datum

        return deserialize


def _is_network_error(exc: BaseException) -> bool:
    # httpx's transport errors (connect, read timeout) have no base class we can import cheaply.
    return type(exc).__module__.split(".")[0] in ("httpx", "httpcore", "httpx2")
