"""CRC-64-AVRO and the single-object header, checked against the spec and published values."""

from __future__ import annotations

import pytest
from fastavro.schema import fingerprint as fastavro_fingerprint

from guardstream.serde import default_schema_set, encode_record
from guardstream.serde.fingerprint import EMPTY, crc64_avro, fingerprint_bytes
from guardstream.serde.single_object import HEADER_SIZE, MARKER

# Published check values: the Avro C# test suite ("null"), goavro's crc64avro_test.go ("int",
# "string"). Both state the spec's 64-bit value as a number, not as bytes.
PUBLISHED = {
    '"null"': 7195948357588979594,
    '"int"': 0x7275D51A3F395C8F,
    '"string"': 0x8F014872634503C7,
}


@pytest.mark.parametrize("canonical, value", sorted(PUBLISHED.items()))
def test_crc64_avro_matches_published_values(canonical, value):
    assert crc64_avro(canonical.encode()) == value


def test_fingerprint_of_empty_input_is_the_spec_seed():
    assert crc64_avro(b"") == EMPTY


@pytest.mark.parametrize("canonical", sorted(PUBLISHED))
def test_header_bytes_are_the_little_endian_value(canonical):
    assert fingerprint_bytes(canonical) == PUBLISHED[canonical].to_bytes(8, "little")
    assert fingerprint_bytes('"int"').hex() == "8f5c393f1ad57572"


def test_fastavro_fingerprint_hex_is_the_little_endian_bytes_for_every_schema():
    # fastavro returns the hex of the header bytes; int(hex, 16) would be byte-swapped.
    for version in default_schema_set().current.values():
        fa = fastavro_fingerprint(version.canonical_form, "CRC-64-AVRO")
        assert bytes.fromhex(fa) == version.fingerprint
        assert int.from_bytes(version.fingerprint, "little") == crc64_avro(version.canonical_form.encode())


def test_single_object_header_is_marker_then_le_fingerprint_of_canonical_form(make_event):
    version = default_schema_set().get("guardstream.ChatEvent")
    payload = encode_record(make_event())
    assert payload[:2] == b"\xc3\x01" == MARKER
    expected = crc64_avro(version.canonical_form.encode("utf-8")).to_bytes(8, "little")
    assert payload[2:HEADER_SIZE] == expected
    assert len(payload) > HEADER_SIZE


def test_canonical_form_drops_docs_defaults_and_logical_types():
    canonical = default_schema_set().get("guardstream.ChatEvent").canonical_form
    assert '"doc"' not in canonical and '"default"' not in canonical
    assert "logicalType" not in canonical
    assert canonical.startswith('{"name":"guardstream.ChatEvent","type":"record","fields":[')
