"""Backward compatibility of a schema change: can a reader holding the new schema read everything a
writer with the old one wrote?

Apache Avro's own ``ReaderWriterCompatibilityChecker`` decides, by the specification's resolution
rules (fields matched by name or alias, defaults for fields the writer lacks, enum defaults, the
numeric and string/bytes promotions, union branches), over the whole schema rather than over
sample records.
"""

from __future__ import annotations

import json
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType


def backward_problems(old: Any, new: Any) -> list[str]:
    """Why a reader with ``new`` cannot read data written with ``old``: empty when it can.

    The checker reports its findings together: what kind of incompatibility, where in the reader's
    schema (JSON pointers) and what it found there (a field, a symbol, a type).
    """
    result = ReaderWriterCompatibilityChecker().get_compatibility(_parse(new), _parse(old))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = sorted({kind.name.lower() for kind in result.incompatibilities})
    return [f"{', '.join(kinds)} at {', '.join(sorted(result.locations))}: {'; '.join(sorted(result.messages))}"]


def _parse(schema: Any) -> avro.schema.Schema:
    return avro.schema.parse(schema if isinstance(schema, str) else json.dumps(schema))
