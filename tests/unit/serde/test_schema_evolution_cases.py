"""Avro's resolution rules that a schema change may lean on, each checked two ways: by the
compatibility checker (``backward_problems``: Apache Avro's reader/writer checker; new reading old, and the reverse for forward
compatibility) and by decoding bytes an old writer really wrote, comparing the values read.

Cases: field and record aliases, an enum default for a removed symbol, int→long, int→double,
float→double and string→bytes promotion, reordered fields; and the changes that must be refused:
a rename without an alias, narrowing long→int or double→float, a removed symbol without a default.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from guardstream.serde.compatibility import backward_problems

Schema = dict[str, Any]

OLD: Schema = {
    "type": "record",
    "name": "Sample",
    "namespace": "guardstream.test",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "count", "type": "int"},
        {"name": "ratio", "type": "float"},
        {"name": "mood", "type": {"type": "enum", "name": "Mood", "symbols": ["calm", "angry", "sad"]}},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}
WRITTEN = [
    {"id": "a", "count": 7, "ratio": 0.5, "mood": "angry", "note": "hi"},
    {"id": "b", "count": -(2**31), "ratio": -1.25, "mood": "calm", "note": None},
    {"id": "c", "count": 2**31 - 1, "ratio": 3.0, "mood": "sad", "note": "样例"},
]


def changed(edit: Callable[[Schema], None], base: Schema = OLD) -> Schema:
    schema = copy.deepcopy(base)
    edit(schema)
    return schema


def field(schema: Schema, name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def read_with(new: Schema, writer: Schema = OLD, records: list[dict[str, Any]] = WRITTEN) -> list[dict[str, Any]]:
    """The records as ``writer`` encodes them, decoded by a reader holding ``new``."""
    written, reader = (
        parse_schema(copy.deepcopy(writer), named_schemas={}),
        parse_schema(copy.deepcopy(new), named_schemas={}),
    )
    out = []
    for record in records:
        buffer = io.BytesIO()
        schemaless_writer(buffer, written, record)
        buffer.seek(0)
        out.append(schemaless_reader(buffer, written, reader))
    return out


def renamed_field(schema: Schema) -> None:
    note = field(schema, "note")
    note["name"], note["aliases"] = "remark", ["note"]


def renamed_record(schema: Schema) -> None:
    schema["name"], schema["aliases"] = "Message", ["guardstream.test.Sample"]


def enum_default(schema: Schema) -> None:
    field(schema, "mood")["type"].update(symbols=["calm", "sad", "unknown"], default="unknown")


def reordered(schema: Schema) -> None:
    schema["fields"].reverse()


def int_to_long(schema: Schema) -> None:
    field(schema, "count")["type"] = "long"


def int_to_double(schema: Schema) -> None:
    field(schema, "count")["type"] = "double"


def float_to_double(schema: Schema) -> None:
    field(schema, "ratio")["type"] = "double"


def string_to_bytes(schema: Schema) -> None:
    field(schema, "id")["type"] = "bytes"


READERS: dict[str, tuple[Callable[[Schema], None], Callable[[dict[str, Any]], dict[str, Any]]]] = {
    # change: (edit, what an old record reads as)
    "field-alias": (renamed_field, lambda r: {**{k: v for k, v in r.items() if k != "note"}, "remark": r["note"]}),
    "record-alias": (renamed_record, lambda r: r),
    "enum-default": (enum_default, lambda r: {**r, "mood": "unknown" if r["mood"] == "angry" else r["mood"]}),
    "reordered-fields": (reordered, lambda r: r),
    "int-to-long": (int_to_long, lambda r: r),
    "int-to-double": (int_to_double, lambda r: {**r, "count": float(r["count"])}),
    "float-to-double": (float_to_double, lambda r: r),
    "string-to-bytes": (string_to_bytes, lambda r: {**r, "id": r["id"].encode()}),
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_a_reader_with_the_change_reads_old_bytes_as_the_rules_say(name: str) -> None:
    edit, expected = READERS[name]
    new = changed(edit)
    assert backward_problems(OLD, new) == []
    assert read_with(new) == [expected(record) for record in WRITTEN]


@pytest.mark.parametrize("name", ["reordered-fields", "int-to-long", "float-to-double"])
def test_the_same_changes_are_forward_compatible_where_avro_allows_it(name: str) -> None:
    """Old readers on new data: reordering is harmless both ways; a widened type is not readable
    by the narrow reader, which the checker must report."""
    edit, _ = READERS[name]
    new = changed(edit)
    problems = backward_problems(new, OLD)
    assert (problems == []) is (name == "reordered-fields"), problems


REFUSED: dict[str, tuple[Schema, Schema]] = {
    "rename-without-alias": (OLD, changed(lambda s: field(s, "id").update(name="key"))),
    "record-rename-without-alias": (OLD, changed(lambda s: s.update(name="Message"))),
    "long-to-int": (changed(int_to_long), OLD),
    "double-to-float": (changed(float_to_double), OLD),
    "removed-symbol-without-default": (
        OLD,
        changed(lambda s: field(s, "mood")["type"].update(symbols=["calm", "sad"])),
    ),
    "bytes-to-int": (changed(string_to_bytes), changed(lambda s: field(s, "id").update(type="int"))),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_changes_that_lose_or_misread_old_data_are_refused(name: str) -> None:
    old, new = REFUSED[name]
    assert backward_problems(old, new), f"{name} was accepted"
