"""The single-object encoding's schema fingerprint: CRC-64-AVRO, the 64-bit Rabin fingerprint the
Avro specification defines, of the UTF-8 bytes of a schema's Parsing Canonical Form.

The header carries it as 8 bytes, **little-endian** (Java's ``SchemaNormalization.fingerprint(
"CRC-64-AVRO", …)`` returns the same bytes). fastavro computes it: its ``fingerprint(pcf,
"CRC-64-AVRO")`` is the hex of those little-endian bytes, so ``bytes.fromhex`` gives the header
value, while ``int(hex, 16)`` would be the byte-swapped number, not the spec's.
"""

from __future__ import annotations

from fastavro.schema import fingerprint


def fingerprint_bytes(canonical_form: str) -> bytes:
    """The 8 header bytes of the single-object encoding for a Parsing Canonical Form."""
    return bytes.fromhex(fingerprint(canonical_form, "CRC-64-AVRO"))
