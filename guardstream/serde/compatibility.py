"""Backward-compatibility checker: can the new schema read everything the old one wrote?

It checks by doing: sample records are generated from the *old* schema (covering every enum
symbol, every union branch, empty and non-empty arrays and maps, and the declared defaults),
written with the old schema and read back with the new one through fastavro's schema resolution.
Any failure (a new field without a default, a removed enum symbol without an enum default, a
changed type, a renamed record without an alias…) is reported as a problem.
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from guardstream.serde.schemas import strip_logical_types

_PRIMITIVE_SAMPLES: dict[str, list[Any]] = {
    "null": [None],
    "boolean": [False, True],
    "int": [0, -1, 2**31 - 1],
    "long": [0, -(2**63), 1_700_000_000_000],
    "float": [0.0, 1.5],
    "double": [0.0, -2.25, 1e300],
    "bytes": [b"", b"\x00\xff"],
    "string": ["", "样例 sample"],
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One sample the new schema could not read."""

    sample: int
    error: str

    def __str__(self) -> str:
        return f"sample {self.sample}: {self.error}"


class _Sampler:
    """Builds the ``i``-th sample of a schema: choices rotate with ``i`` so every branch shows."""

    def __init__(self, schema: Any) -> None:
        self.named: dict[str, Any] = {}
        self._index(schema, None)

    def _index(self, schema: Any, namespace: str | None) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._index(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind in ("record", "enum", "fixed", "error"):
                ns = schema.get("namespace", namespace)
                name = schema["name"]
                full = name if "." in name or not ns else f"{ns}.{name}"
                self.named[full] = schema
                self.named.setdefault(name, schema)
                for f in schema.get("fields", ()):
                    self._index(f["type"], ns)
            elif kind == "array":
                self._index(schema["items"], namespace)
            elif kind == "map":
                self._index(schema["values"], namespace)
            elif isinstance(kind, (dict, list)):
                self._index(kind, namespace)

    def sample(self, schema: Any, i: int, depth: int = 0, use_defaults: bool = False) -> Any:
        if isinstance(schema, str):
            if schema in _PRIMITIVE_SAMPLES:
                values = _PRIMITIVE_SAMPLES[schema]
                return values[i % len(values)]
            return self.sample(self.named[schema], i, depth, use_defaults)
        if isinstance(schema, list):
            branches = schema
            if depth > 6:  # stop recursive types at a null branch when there is one
                branches = [b for b in schema if b == "null"] or schema
            return self.sample(branches[i % len(branches)], i, depth + 1)
        kind = schema["type"]
        if isinstance(kind, (dict, list)):
            return self.sample(kind, i, depth, use_defaults)
        if kind in _PRIMITIVE_SAMPLES:
            return self.sample(kind, i, depth, use_defaults)
        if kind == "enum":
            return schema["symbols"][i % len(schema["symbols"])]
        if kind == "fixed":
            return bytes([i % 256]) * schema["size"]
        if kind == "array":
            n = 0 if depth > 6 else i % 3
            return [self.sample(schema["items"], i + k, depth + 1) for k in range(n)]
        if kind == "map":
            n = 0 if depth > 6 else i % 3
            return {f"k{k}": self.sample(schema["values"], i + k, depth + 1) for k in range(n)}
        if kind in ("record", "error"):
            out = {}
            for f in schema["fields"]:
                if use_defaults and "default" in f:
                    out[f["name"]] = _default_value(f["type"], f["default"], self)
                else:
                    out[f["name"]] = self.sample(f["type"], i, depth + 1)
            return out
        raise ValueError(f"cannot sample schema type {kind!r}")


def _default_value(schema: Any, default: Any, sampler: _Sampler) -> Any:
    # A union's default belongs to its first branch; bytes defaults are strings of code points.
    first = schema[0] if isinstance(schema, list) else schema
    if isinstance(first, str) and first in sampler.named:
        first = sampler.named[first]
    kind = first.get("type") if isinstance(first, dict) else first
    if kind in ("bytes", "fixed") and isinstance(default, str):
        return default.encode("latin-1")
    return copy.deepcopy(default)


def samples(schema: Any, count: int | None = None) -> list[Any]:
    """Sample records of ``schema``: rotating choices, plus one built from the defaults."""
    sampler = _Sampler(schema)
    n = count
    if n is None:
        n = max([8, *(len(s.get("symbols", ())) + 1 for s in sampler.named.values())])
    out = [sampler.sample(schema, i) for i in range(n)]
    out.append(sampler.sample(schema, 0, use_defaults=True))
    return out


def backward_problems(old: Any, new: Any, count: int | None = None) -> list[Problem]:
    """Problems reading data written with ``old`` using ``new``; empty when compatible."""
    old_parsed = parse_schema(strip_logical_types(copy.deepcopy(old)), named_schemas={})
    try:
        new_parsed = parse_schema(strip_logical_types(copy.deepcopy(new)), named_schemas={})
    except Exception as exc:
        return [Problem(-1, f"new schema does not parse: {exc}")]
    problems = []
    for i, datum in enumerate(samples(old, count)):
        buf = io.BytesIO()
        schemaless_writer(buf, old_parsed, datum)
        buf.seek(0)
        try:
            schemaless_reader(buf, old_parsed, new_parsed)
        except Exception as exc:  # SchemaResolutionError, or a reader failure on resolved data
            problems.append(Problem(i, f"{type(exc).__name__}: {exc}"))
    return problems


def is_backward_compatible(old: Any, new: Any) -> bool:
    return not backward_problems(old, new)
