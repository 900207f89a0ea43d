"""Reading and writing Libra-Test-format files: a JSON array, JSON lines, or Parquet.

Every record is validated; a bad file raises :class:`DataFileError` listing each problem as
``path:line: message`` (``path:row N`` for Parquet), so the fix is one look away. The line of a
JSON-array item is the line where its object starts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from training.data.records import GuardRecord, RecordError

MAX_LISTED_PROBLEMS = 20


class DataFileError(ValueError):
    """A data file that cannot be used; ``problems`` holds one ``path:line: message`` each."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        listed = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(listed)
        text = "\n".join(f"  {p}" for p in listed) + (f"\n  … and {more} more" if more > 0 else "")
        super().__init__(f"{path}: {len(problems)} invalid record(s):\n{text}")


def read_records(path: str | Path, *, default_source: str | None = None) -> list[GuardRecord]:
    """All records of a ``.json``, ``.jsonl``/``.ndjson`` or ``.parquet`` file, validated."""
    path = Path(path)
    source = default_source if default_source is not None else path.stem
    if not path.is_file():
        raise DataFileError(path, [f"{path}: no such file"])
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        items: Iterable[tuple[str, Any]] = _parquet_items(path)
    elif suffix in (".jsonl", ".ndjson"):
        items = _jsonl_items(path)
    elif suffix == ".json":
        items = _json_items(path)
    else:
        raise DataFileError(path, [f"{path}: unknown format {suffix!r}; use .json, .jsonl or .parquet"])
    records: list[GuardRecord] = []
    problems: list[str] = []
    for where, item in items:
        if isinstance(item, _Broken):
            problems.append(f"{where}: {item.message}")
            continue
        try:
            records.append(GuardRecord.from_dict(item, default_source=source))
        except RecordError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise DataFileError(path, problems)
    duplicates = _duplicate_ids(records)
    if duplicates:
        raise DataFileError(path, [f"{path}: duplicate id {i!r}" for i in duplicates])
    return records


class _Broken:
    def __init__(self, message: str) -> None:
        self.message = message


def _jsonl_items(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{number}", json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"{path}:{number}", _Broken(f"invalid JSON: {exc.msg} (column {exc.colno})")


def _json_items(path: Path) -> Iterator[tuple[str, Any]]:
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    index = _skip_space(text, 0)
    if text[index : index + 1] != "[":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            yield f"{path}:{exc.lineno}", _Broken(f"invalid JSON: {exc.msg}")
            return
        yield f"{path}:1", _Broken(f"expected a JSON array of records, got {type(document).__name__}")
        return
    index = _skip_space(text, index + 1)
    if text[index : index + 1] == "]":
        return
    while True:
        line = text.count("\n", 0, index) + 1
        try:
            item, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            yield f"{path}:{exc.lineno}", _Broken(f"invalid JSON: {exc.msg}")
            return
        yield f"{path}:{line}", item
        index = _skip_space(text, end)
        if text[index : index + 1] == ",":
            index = _skip_space(text, index + 1)
            continue
        if text[index : index + 1] != "]":
            line = text.count("\n", 0, index) + 1
            yield f"{path}:{line}", _Broken("invalid JSON: expected ',' or ']' between records")
        return


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n\ufeff":
        index += 1
    return index


def _parquet_items(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for unreadable files
        yield f"{path}", _Broken(f"cannot read Parquet: {exc}")
        return
    for number, row in enumerate(table.to_pylist(), start=1):
        yield f"{path}:row {number}", row


def _duplicate_ids(records: list[GuardRecord]) -> list[str]:
    seen: set[str] = set()
    duplicates: list[str] = []
    for record in records:
        if record.id in seen:
            duplicates.append(record.id)
        seen.add(record.id)
    return duplicates


def write_jsonl(path: str | Path, records: Iterable[GuardRecord]) -> Path:
    """Write records as JSON lines (UTF-8, Chinese kept readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
    return path


def write_json(path: str | Path, records: Iterable[GuardRecord]) -> Path:
    """Write records as one JSON array, the layout Libra-Test itself ships."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.to_dict() for r in records], ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (data manifests)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def records_digest(records: Iterable[GuardRecord]) -> str:
    """SHA-256 of records in order (what a stage actually trained on)."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def code_files_digest(root: Path, names: Iterable[str]) -> str:
    """One sha256 over the named files under ``root`` (name and bytes of each, in order): what a cached
    build records of the code that decided its bytes."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


def build_spec_identity(spec: Any) -> dict[str, Any]:
    """A build spec's fields that decide what a cached build is: all but ``threads``, which decides only
    how fast it is built (``guardstream model build-default --jobs 2`` builds with one thread each)."""
    from dataclasses import asdict

    return {name: value for name, value in asdict(spec).items() if name != "threads"}
