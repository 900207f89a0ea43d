"""The single-object framing on its own: header bytes, the writer version a header names, and every
way a body can fail, each with the kind and the part of the reason a person reading a dead letter
needs (sizes, the fingerprint, the record names)."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer

from guardstream.errors import PoisonInputError
from guardstream.records import ChatEvent, ChatRole
from guardstream.serde import default_schema_set, encode_record
from guardstream.serde.schemas import SchemaSet, SchemaVersion, make_version
from guardstream.serde.single_object import HEADER_SIZE, MARKER, encode, header, read_body, writer_version
from tests.unit.serde.conftest import SAMPLE_RECORDS

CHAT = "guardstream.ChatEvent"
VERDICT = "guardstream.Verdict"
SCHEMAS = default_schema_set()
EVENT = SAMPLE_RECORDS["ChatEvent"]


def history_verdict() -> SchemaVersion:
    return next(v for v in SCHEMAS.by_fingerprint.values() if v.label == "history/verdict/v1.avsc")


def test_header_is_the_marker_then_the_eight_fingerprint_bytes() -> None:
    version = SCHEMAS.get(CHAT)
    assert header(version) == b"\xc3\x01" + version.fingerprint
    assert len(header(version)) == HEADER_SIZE == 10


def test_encode_is_the_header_then_the_schemaless_avro_body() -> None:
    version = SCHEMAS.get(CHAT)
    body = io.BytesIO()
    schemaless_writer(body, version.wire, EVENT.to_avro())
    assert encode(version, EVENT.to_avro()) == MARKER + version.fingerprint + body.getvalue()


@pytest.mark.parametrize("record", sorted(SAMPLE_RECORDS), ids=str)
def test_writer_version_of_a_whole_payload_is_the_version_it_was_written_with(record: str) -> None:
    value = SAMPLE_RECORDS[record]
    version = SCHEMAS.get(value.AVRO_NAME)
    payload = encode_record(value)
    assert writer_version(SCHEMAS, payload, value.AVRO_NAME) is version
    assert read_body(SCHEMAS, version, payload) == value.to_avro()


def test_a_header_alone_is_long_enough_to_name_the_writer() -> None:
    version = SCHEMAS.get(CHAT)
    assert writer_version(SCHEMAS, header(version), CHAT) is version


@pytest.mark.parametrize("size", range(HEADER_SIZE))
def test_a_payload_shorter_than_the_header_is_a_truncated_header(size: int) -> None:
    payload = header(SCHEMAS.get(CHAT))[:size]
    with pytest.raises(PoisonInputError, match=rf"^single-object header needs 10 bytes .*, payload has {size}$") as err:
        writer_version(SCHEMAS, payload, CHAT)
    assert err.value.kind == "truncated_header"


def test_an_unknown_fingerprint_is_named_in_hex_with_the_expected_record() -> None:
    payload = MARKER + bytes(range(1, 9)) + encode_record(EVENT)[HEADER_SIZE:]
    with pytest.raises(
        PoisonInputError,
        match=r"^unknown writer schema fingerprint 0102030405060708 \(.*\); not a known version of guardstream\.ChatEvent$",
    ) as err:
        writer_version(SCHEMAS, payload, CHAT)
    assert err.value.kind == "unknown_schema"


def test_the_fingerprint_is_read_from_bytes_two_to_ten() -> None:
    version = SCHEMAS.get(CHAT)
    # Whatever follows the header, and whatever the two marker bytes are, the lookup uses bytes 2..9.
    assert writer_version(SCHEMAS, b"\x00\x00" + version.fingerprint + b"\xff" * 5, CHAT) is version


def test_a_record_of_another_type_is_the_wrong_schema_naming_both() -> None:
    payload = encode_record(SAMPLE_RECORDS["Verdict"])
    with pytest.raises(
        PoisonInputError, match=r"^payload is a guardstream\.Verdict \(current\), expected guardstream\.ChatEvent$"
    ) as err:
        writer_version(SCHEMAS, payload, CHAT)
    assert err.value.kind == "wrong_schema"


def test_a_history_version_is_accepted_as_a_version_of_its_record() -> None:
    old = history_verdict()
    assert writer_version(SCHEMAS, header(old), VERDICT) is old
    with pytest.raises(PoisonInputError, match=r"payload is a guardstream\.Verdict \(history/verdict/v1\.avsc\)"):
        writer_version(SCHEMAS, header(old), CHAT)


def renamed_history() -> tuple[SchemaSet, SchemaVersion]:
    """A set whose ChatEvent history holds a version written under an earlier record name."""
    source = json.loads(json.dumps(SCHEMAS.get(CHAT).source))
    source["name"] = "OldChatEvent"
    old = make_version(source, stem="chat_event", label="history/chat_event/v0.avsc")
    schemas = dataclasses.replace(SCHEMAS, by_fingerprint={**SCHEMAS.by_fingerprint, old.fingerprint: old})
    return schemas, old


def test_a_history_version_under_an_earlier_record_name_is_a_version_of_the_current_record() -> None:
    schemas, old = renamed_history()
    assert old.name == "guardstream.OldChatEvent"
    assert writer_version(schemas, header(old), CHAT) is old
    # ...and it is still accepted under its own old name, though no current schema has it
    assert writer_version(schemas, header(old), "guardstream.OldChatEvent") is old


def test_a_history_version_is_resolved_into_the_current_reader_schema() -> None:
    old = history_verdict()
    datum = SAMPLE_RECORDS["Verdict-minimal"].to_avro()
    v1_fields = {f["name"] for f in old.source["fields"]}
    written = {k: v for k, v in datum.items() if k in v1_fields}
    assert set(written) != set(datum)  # the current schema has fields v1 lacks
    payload = encode(old, written)
    defaults = {f["name"]: f["default"] for f in SCHEMAS.get(VERDICT).source["fields"] if "default" in f}
    assert read_body(SCHEMAS, old, payload) == {**{k: defaults[k] for k in set(datum) - v1_fields}, **written}


def test_the_current_version_is_read_with_its_own_schema() -> None:
    version = SCHEMAS.get(CHAT)
    payload = encode(version, EVENT.to_avro())
    assert read_body(SCHEMAS, version, payload) == EVENT.to_avro()


def test_a_body_cut_short_is_malformed_avro_naming_the_record() -> None:
    version = SCHEMAS.get(CHAT)
    payload = encode(version, EVENT.to_avro())
    with pytest.raises(
        PoisonInputError,
        match=r"^Avro body of guardstream\.ChatEvent is truncated or corrupt \(a length runs past the end\): ",
    ) as err:
        read_body(SCHEMAS, version, payload[:-3])
    assert err.value.kind == "malformed_avro"


def test_a_header_without_a_body_is_malformed_avro() -> None:
    version = SCHEMAS.get(CHAT)
    with pytest.raises(PoisonInputError, match="is truncated or corrupt") as err:
        read_body(SCHEMAS, version, header(version))
    assert err.value.kind == "malformed_avro"


def lying_body(version: SchemaVersion, changes: dict[str, Any], types: dict[str, Any]) -> bytes:
    """A header of ``version`` in front of a body written with some field types swapped."""
    schema = json.loads(json.dumps(version.source))
    for f in schema["fields"]:
        if f["name"] in types:
            f["type"] = types[f["name"]]
            f.pop("default", None)
    buf = io.BytesIO()
    buf.write(header(version))
    schemaless_writer(buf, parse_schema(schema, named_schemas={}), {**EVENT.to_avro(), **changes})
    return buf.getvalue()


def test_an_enum_index_out_of_range_is_malformed_avro_naming_record_label_and_error() -> None:
    version = SCHEMAS.get(CHAT)
    payload = lying_body(version, {"role": 7}, {"role": "int"})
    with pytest.raises(
        PoisonInputError, match=r"^Avro body is not a valid guardstream\.ChatEvent \(current\): IndexError: "
    ) as err:
        read_body(SCHEMAS, version, payload)
    assert err.value.kind == "malformed_avro"


def test_invalid_utf8_in_an_avro_string_is_invalid_utf8() -> None:
    version = SCHEMAS.get(CHAT)
    payload = lying_body(version, {"text": b"ok\xff\xfe"}, {"text": "bytes"})
    with pytest.raises(PoisonInputError, match=r"^invalid UTF-8 in an Avro string: 'utf-8' codec") as err:
        read_body(SCHEMAS, version, payload)
    assert err.value.kind == "invalid_utf8"


@pytest.mark.parametrize("extra", [b"\x00", b"\x00\x02", b"abc"])
def test_bytes_after_the_record_are_trailing_bytes_counted(extra: bytes) -> None:
    version = SCHEMAS.get(CHAT)
    payload = encode(version, EVENT.to_avro()) + extra
    with pytest.raises(
        PoisonInputError, match=rf"^{len(extra)} bytes after the end of the guardstream\.ChatEvent record$"
    ) as err:
        read_body(SCHEMAS, version, payload)
    assert err.value.kind == "trailing_bytes"


def test_the_body_starts_right_after_the_ten_byte_header() -> None:
    version = SCHEMAS.get(CHAT)
    minimal = ChatEvent(event_id="e", conversation_id="c", user_id="u", role=ChatRole.USER, text="t", created_at_ms=0)
    body = encode(version, minimal.to_avro())[HEADER_SIZE:]
    # The ten bytes before the body are not looked at by read_body: the caller checked them.
    assert read_body(SCHEMAS, version, b"\xff" * HEADER_SIZE + body) == minimal.to_avro()
