"""Avro single-object encoding, exactly as the Avro specification defines it.

    C3 01 | fingerprint (8 bytes, little-endian CRC-64-AVRO of the writer schema's
            Parsing Canonical Form) | Avro binary body

A reader looks the fingerprint up among the known schema versions (current and history) and, for
an older writer schema, resolves the body into the current reader schema.
"""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from guardstream.errors import PoisonInputError
from guardstream.serde.schemas import SchemaSet, SchemaVersion

MARKER = b"\xc3\x01"
HEADER_SIZE = 10


def header(version: SchemaVersion) -> bytes:
    """The 10-byte header for data written with ``version``."""
    return MARKER + version.fingerprint


def encode(version: SchemaVersion, datum: dict[str, Any]) -> bytes:
    """Single-object encoding of ``datum`` written with ``version``."""
    buf = io.BytesIO()
    buf.write(MARKER)
    buf.write(version.fingerprint)
    schemaless_writer(buf, version.wire, datum)
    return buf.getvalue()


def writer_version(schemas: SchemaSet, payload: bytes, expected: str) -> SchemaVersion:
    """The schema version named by ``payload``'s header; it must be a version of ``expected``."""
    if len(payload) < HEADER_SIZE:
        raise PoisonInputError(
            "truncated_header",
            f"single-object header needs {HEADER_SIZE} bytes (C3 01 + 8-byte fingerprint), payload has {len(payload)}",
        )
    fp = payload[2:HEADER_SIZE]
    version = schemas.by_fingerprint.get(fp)
    if version is None:
        raise PoisonInputError(
            "unknown_schema",
            f"unknown writer schema fingerprint {fp.hex()} (CRC-64-AVRO, little-endian); "
            f"not a known version of {expected}",
        )
    if version.name != expected and schemas.reader_for(version).name != expected:
        raise PoisonInputError("wrong_schema", f"payload is a {version.name} ({version.label}), expected {expected}")
    return version


def read_body(schemas: SchemaSet, writer: SchemaVersion, payload: bytes) -> dict[str, Any]:
    """Decode the body after the header; every failure is a :class:`PoisonInputError`."""
    fo = io.BytesIO(payload)
    fo.seek(HEADER_SIZE)
    reader = None if writer.label == "current" else schemas.reader_for(writer).wire
    try:
        datum = schemaless_reader(fo, writer.wire, reader)
    except UnicodeDecodeError as exc:
        raise PoisonInputError("invalid_utf8", f"invalid UTF-8 in an Avro string: {exc}") from None
    except EOFError as exc:
        raise PoisonInputError(
            "malformed_avro", f"Avro body of {writer.name} is truncated or corrupt (a length runs past the end): {exc}"
        ) from None
    except Exception as exc:  # untrusted bytes into a third-party parser: any failure is poison
        raise PoisonInputError(
            "malformed_avro",
            f"Avro body is not a valid {writer.name} ({writer.label}): {type(exc).__name__}: {exc}",
        ) from None
    end = fo.tell()
    if end != len(payload):
        raise PoisonInputError(
            "trailing_bytes",
            f"{len(payload) - end} bytes after the end of the {writer.name} record",
        )
    return datum  # type: ignore[return-value]  # a record schema reads into a dict
