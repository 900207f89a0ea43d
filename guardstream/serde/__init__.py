"""Avro serde for guardstream's records.

* :mod:`~guardstream.serde.schemas` — load and fingerprint the contracts in ``schemas/``;
* :mod:`~guardstream.serde.single_object` — the spec's single-object encoding (default);
* :mod:`~guardstream.serde.confluent` — Confluent schema-registry framing (when configured);
* :mod:`~guardstream.serde.json_codec` — JSON input for ChatEvent;
* :mod:`~guardstream.serde.codec` — what the worker calls: :class:`ChatEventDecoder`,
  :class:`AvroEncoder`, :func:`encode_record`, :func:`decode_record`;
* :mod:`~guardstream.serde.compatibility` — the backward-compatibility checker for schema changes.
"""

from guardstream.limits import Limits
from guardstream.serde.codec import (
    AvroDecoder,
    AvroEncoder,
    ChatEventDecoder,
    decode_record,
    encode_record,
)
from guardstream.serde.schemas import SchemaSet, SchemaVersion, default_schema_set, load_schema_set

__all__ = [
    "AvroDecoder",
    "AvroEncoder",
    "ChatEventDecoder",
    "Limits",
    "SchemaSet",
    "SchemaVersion",
    "decode_record",
    "default_schema_set",
    "encode_record",
    "load_schema_set",
]
