"""How large each field of a chat event may be, and which characters it may hold: the one source.

Ingestion (:mod:`guardstream.serde.validation`, for Avro and JSON input alike), the audit tables
(their column widths; migration 0003 aligned them) and the review app's routes read these numbers,
so an input that passes ingestion can always be stored and opened, and one that does not is
dead-lettered with the kind of rule it broke. Lengths count characters (code points), as Python's
``len`` and PostgreSQL's ``varchar(n)`` both do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

ID_CHARS = 256
"""event_id, conversation_id and user_id; the audit columns holding them are exactly this wide."""
LOCALE_CHARS = 256
TEXT_CHARS = 16_000
"""``text`` and ``question`` by default (the worker's ``max_text_chars`` may change it)."""
CONTEXT_TURNS = 256
METADATA_ENTRIES = 256
METADATA_CHARS = 16_000
"""``metadata``'s keys and values together."""
KEY_BYTES = 4 * ID_CHARS
"""A Kafka record key (the conversation id, UTF-8): larger keys make the record poison."""
HEADER_BYTES = 64 * 1024
"""A Kafka record's headers, names and values together (a trace context needs 64 bytes)."""
CREATED_AT_MS_MAX = 253_370_764_799_999
"""``created_at_ms`` runs from 0 (1970) to the last millisecond of year 9998: a date every time zone can show."""
POLICY_VERSION_CHARS = 64
"""A policy file's ``version``, stamped on every verdict and stored with it."""
WORKER_ID_CHARS = 200
REASON_CHARS = 2_000
"""A dead letter's reason (it may quote a piece of the input)."""

_FORBIDDEN_IN_ID = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters (Unicode category Cc) and lone surrogates (Cs): no id may hold them."""


class Violation(NamedTuple):
    """A broken rule: ``kind`` names it (the dead letter's kind), ``reason`` says where."""

    kind: str
    reason: str


def id_violation(value: str, name: str = "id") -> Violation | None:
    """Why ``value`` cannot be an event, conversation or user id, or None if it can be one.

    Any other character is allowed, path characters (``/``, ``..``, ``%2F``) and invisible or
    right-to-left marks included: every reader must handle them.
    """
    if not value or value.isspace():
        return Violation("empty_field", f"{name} is empty")
    if len(value) > ID_CHARS:
        return Violation("field_too_long", f"{name} has {len(value)} characters, limit {ID_CHARS}")
    found = _FORBIDDEN_IN_ID.search(value)
    if found is None:
        return None
    index, char = found.start(), found.group()
    if char == "\x00":
        return Violation("nul_bytes", f"{name} contains a NUL character at index {index}")
    if "\ud800" <= char <= "\udfff":
        return Violation("invalid_utf8", f"{name} contains a lone surrogate at index {index}")
    return Violation("control_characters", f"{name} contains the control character U+{ord(char):04X} at index {index}")


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds a deployment may tune; ids, keys and timestamps are fixed by the store above."""

    max_text_chars: int = TEXT_CHARS
    """Longest ``text`` and ``question``, in characters."""
    max_context_chars: int = 4 * TEXT_CHARS
    """Longest ``context``, all turns together, in characters."""
    max_context_turns: int = CONTEXT_TURNS
    max_metadata_chars: int = METADATA_CHARS
    max_metadata_entries: int = METADATA_ENTRIES

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")

    @classmethod
    def for_text(cls, max_text_chars: int) -> Limits:
        """The default limits with ``max_text_chars`` for text and four times that for context."""
        return cls(max_text_chars=max_text_chars, max_context_chars=4 * max_text_chars)
