"""CRC-64-AVRO and the single-object header, checked against the spec and published values."""

from __future__ import annotations

import pytest

from guardstream.serde import default_schema_set, encode_record
from guardstream.serde.fingerprint import fingerprint_bytes
from guardstream.serde.single_object import HEADER_SIZE, MARKER

# Published check values: the Avro C# test suite ("null"), goavro's crc64avro_test.go ("int",
# "string"). Both state the spec's 64-bit value as a number, not as bytes.
PUBLISHED = {
    '"null"': 7195948357588979594,
    '"int"': 0x7275D51A3F395C8F,
    '"string"': 0x8F014872634503C7,
}


SPEC_SEED = 0xC15D213AA4D7A795
"""The spec's ``EMPTY``: the fingerprint of no bytes at all."""


@pytest.mark.parametrize("canonical, value", sorted(PUBLISHED.items()))
def test_the_fingerprint_is_the_published_value_as_8_little_endian_bytes(canonical: str, value: int) -> None:
    assert fingerprint_bytes(canonical) == value.to_bytes(8, "little")


def test_the_fingerprint_of_nothing_is_the_spec_seed_and_int_reads_as_on_the_wire() -> None:
    assert fingerprint_bytes("") == SPEC_SEED.to_bytes(8, "little")
    assert fingerprint_bytes('"int"').hex() == "8f5c393f1ad57572"


def test_every_schema_version_carries_the_fingerprint_of_its_canonical_form() -> None:
    schemas = default_schema_set()
    for version in schemas.current.values():
        assert version.fingerprint == fingerprint_bytes(version.canonical_form)
        assert schemas.by_fingerprint[version.fingerprint] is version


def test_single_object_header_is_marker_then_le_fingerprint_of_canonical_form(make_event):
    version = default_schema_set().get("guardstream.ChatEvent")
    payload = encode_record(make_event())
    assert payload[:2] == b"\xc3\x01" == MARKER
    assert payload[2:HEADER_SIZE] == fingerprint_bytes(version.canonical_form) == version.fingerprint
    assert len(payload) > HEADER_SIZE


def test_canonical_form_drops_docs_defaults_and_logical_types():
    canonical = default_schema_set().get("guardstream.ChatEvent").canonical_form
    assert '"doc"' not in canonical and '"default"' not in canonical
    assert "logicalType" not in canonical
    assert canonical.startswith('{"name":"guardstream.ChatEvent","type":"record","fields":[')
