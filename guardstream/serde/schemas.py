"""Load the Avro contracts in ``schemas/`` (and their earlier versions) once, ready for the hot path.

Every schema is parsed with fastavro, reduced to its Parsing Canonical Form and fingerprinted
(CRC-64-AVRO). Earlier versions kept in ``schemas/history/<file stem>/*.avsc`` are loaded too, so
data written with an older writer schema can still be read into the current reader schema.

The schema folder is ``$GUARDSTREAM_SCHEMA_DIR`` when set, else the package's own ``guardstream/schemas``:
package data in an installed wheel, a link to the repository's ``schemas/`` in a checkout.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import to_parsing_canonical_form

from guardstream.errors import ConfigurationError
from guardstream.serde.fingerprint import fingerprint_bytes

SCHEMA_DIR_ENV = "GUARDSTREAM_SCHEMA_DIR"


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One version of one record schema, parsed and fingerprinted."""

    name: str
    """Full name, e.g. ``guardstream.ChatEvent``."""
    stem: str
    """File stem in ``schemas/``, e.g. ``chat_event``."""
    label: str
    """Where it came from: ``current`` or ``history/<file>``."""
    source: dict[str, Any]
    """The schema JSON as written (docs, defaults, logical types)."""
    wire: Any = field(repr=False)
    """fastavro-parsed schema with logical types removed: longs stay ints on the hot path."""
    canonical_form: str = field(repr=False)
    fingerprint: bytes = b""
    """CRC-64-AVRO of ``canonical_form``, 8 bytes little-endian, as in the single-object header."""

    @property
    def json(self) -> str:
        """The schema as a JSON string (as written), e.g. to register with a schema registry."""
        return json.dumps(self.source, ensure_ascii=False)


def strip_logical_types(schema: Any) -> Any:
    """A copy of ``schema`` without ``logicalType`` annotations.

    They are not part of the Parsing Canonical Form (the fingerprint is unchanged); dropping them
    keeps ``timestamp-millis`` as a plain int instead of a datetime built and torn down per message.
    """
    if isinstance(schema, dict):
        return {k: strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical_types(v) for v in schema]
    return schema


def make_version(source: dict[str, Any], *, stem: str, label: str) -> SchemaVersion:
    """Parse and fingerprint one schema document."""
    # Each version gets its own name table: history and current share the same full names.
    canonical = to_parsing_canonical_form(parse_schema(copy.deepcopy(source), named_schemas={}))
    wire = parse_schema(strip_logical_types(source), named_schemas={})
    name = wire["name"] if isinstance(wire, dict) and "name" in wire else stem
    return SchemaVersion(
        name=name,
        stem=stem,
        label=label,
        source=source,
        wire=wire,
        canonical_form=canonical,
        fingerprint=fingerprint_bytes(canonical),
    )


@dataclass(frozen=True, slots=True)
class SchemaSet:
    """Every current schema, and every known version by fingerprint."""

    directory: Path
    current: dict[str, SchemaVersion]
    """Current version by full name."""
    by_fingerprint: dict[bytes, SchemaVersion]
    """Current and historical versions by fingerprint."""

    def reader_for(self, writer: SchemaVersion) -> SchemaVersion:
        """The current version of the record ``writer`` is a version of (same file stem)."""
        for version in self.current.values():
            if version.stem == writer.stem:
                return version
        raise ConfigurationError(f"no current schema for {writer.label}")

    def get(self, name: str) -> SchemaVersion:
        try:
            return self.current[name]
        except KeyError:
            raise ConfigurationError(
                f"no schema named {name} in {self.directory}; have {sorted(self.current)}"
            ) from None


def default_schema_dir() -> Path:
    override = os.environ.get(SCHEMA_DIR_ENV)
    if override:
        return Path(override)
    return Path(str(files("guardstream") / "schemas"))


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read Avro schema {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigurationError(f"{path} is not a named Avro schema (a JSON object)")
    return doc


def load_schema_set(directory: Path | str | None = None) -> SchemaSet:
    """Load, parse and fingerprint every ``*.avsc`` in ``directory`` and its ``history/``."""
    folder = Path(directory) if directory is not None else default_schema_dir()
    files = sorted(folder.glob("*.avsc"))
    if not files:
        raise ConfigurationError(f"no .avsc files in {folder}")
    current: dict[str, SchemaVersion] = {}
    by_fp: dict[bytes, SchemaVersion] = {}
    for path in files:
        try:
            version = make_version(_read(path), stem=path.stem, label="current")
        except ConfigurationError:
            raise
        except Exception as exc:  # fastavro's parse errors have no common base
            raise ConfigurationError(f"invalid Avro schema {path}: {exc}") from exc
        current[version.name] = version
        by_fp[version.fingerprint] = version
        for old_path in sorted((folder / "history" / path.stem).glob("*.avsc")):
            try:
                old = make_version(_read(old_path), stem=path.stem, label=f"history/{path.stem}/{old_path.name}")
            except ConfigurationError:
                raise
            except Exception as exc:
                raise ConfigurationError(f"invalid Avro schema {old_path}: {exc}") from exc
            by_fp.setdefault(old.fingerprint, old)
    return SchemaSet(directory=folder, current=current, by_fingerprint=by_fp)


@functools.cache
def default_schema_set() -> SchemaSet:
    """The schemas of this checkout, loaded once on first use (not at import)."""
    return load_schema_set()
