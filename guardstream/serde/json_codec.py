"""JSON input for ChatEvent: an object with the schema's field names.

Rules (the JSON form of ``schemas/chat_event.avsc``):

* Required: ``event_id``, ``conversation_id``, ``user_id``, ``role`` ("user" | "assistant"),
  ``text`` (strings) and ``created_at_ms`` (an integer; a missing producer time is rejected,
  never replaced by the consumer's clock, which would hide producer lag).
* Optional: ``question`` and ``locale`` (string or null), ``context`` (list of strings),
  ``metadata`` (object of string values); ``null`` means "absent" for all four.
* Unknown top-level fields are **ignored**, exactly as Avro schema resolution drops writer fields
  the reader does not know: a newer producer must not break an older worker. They are not copied
  into ``metadata`` (whose values must be strings, and whose contents producers own).
* Booleans are not integers, floats are not integers, strings are not numbers.
"""

from __future__ import annotations

import json
from typing import Any

from guardstream.errors import PoisonInputError
from guardstream.records import ChatEvent, ChatRole

_REQUIRED_STRINGS = ("event_id", "conversation_id", "user_id", "text")
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _wrong(field: str, expected: str, value: Any) -> PoisonInputError:
    return PoisonInputError("wrong_type", f"{field} must be {expected}, got {_type_name(value)}")


def parse_json_object(payload: bytes) -> dict[str, Any]:
    """Decode ``payload`` as UTF-8 JSON holding one object."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PoisonInputError("invalid_utf8", f"JSON payload is not UTF-8: byte {exc.start}: {exc.reason}") from None
    try:
        doc = json.loads(text)
    except RecursionError:
        raise PoisonInputError("invalid_json", "JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and int strings over Python's digit limit
        raise PoisonInputError("invalid_json", f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PoisonInputError("not_an_object", f"JSON payload must be an object, got {_type_name(doc)}")
    return doc


def chat_event_from_json(doc: dict[str, Any]) -> ChatEvent:
    """Type-check a JSON object and build the ChatEvent (content checks come after)."""
    for name in (*_REQUIRED_STRINGS, "role", "created_at_ms"):
        if name not in doc:
            raise PoisonInputError("missing_field", f"required field {name} is missing")
    for name in _REQUIRED_STRINGS:
        if not isinstance(doc[name], str):
            raise _wrong(name, "a string", doc[name])
    role = doc["role"]
    if not isinstance(role, str):
        raise _wrong("role", "a string", role)
    if role not in ("user", "assistant"):
        raise PoisonInputError("invalid_value", f"role must be 'user' or 'assistant', got {role[:40]!r}")
    created = doc["created_at_ms"]
    if type(created) is not int:
        raise _wrong("created_at_ms", "an integer (ms since the Unix epoch)", created)
    if not _LONG_MIN <= created <= _LONG_MAX:
        raise PoisonInputError("invalid_value", "created_at_ms is outside the Avro long range")
    optional: dict[str, Any] = {}
    for name in ("question", "locale"):
        value = doc.get(name)
        if value is not None and not isinstance(value, str):
            raise _wrong(name, "a string or null", value)
        optional[name] = value
    context = doc.get("context")
    if context is None:
        context = []
    if not isinstance(context, list):
        raise _wrong("context", "a list of strings", context)
    for i, turn in enumerate(context):
        if not isinstance(turn, str):
            raise _wrong(f"context[{i}]", "a string", turn)
    metadata = doc.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise _wrong("metadata", "an object of strings", metadata)
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise _wrong(f"metadata[{key[:40]!r}]", "a string", value)
    return ChatEvent(
        event_id=doc["event_id"],
        conversation_id=doc["conversation_id"],
        user_id=doc["user_id"],
        role=ChatRole(role),
        text=doc["text"],
        question=optional["question"],
        context=tuple(context),
        created_at_ms=created,
        locale=optional["locale"],
        metadata=dict(metadata),
    )


def chat_event_to_json(event: ChatEvent) -> bytes:
    """The JSON form of ``event`` (UTF-8), e.g. for producers that do not speak Avro."""
    return json.dumps(event.to_avro(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
