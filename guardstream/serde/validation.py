"""Content checks every decoded ChatEvent must pass, whatever its wire format.

The Avro schema guarantees types; these checks cover what it cannot say: ids present, text not
empty, sizes bounded (the guard model and the audit store have limits), no NUL characters
(PostgreSQL text columns reject them) and no lone surrogates (they cannot be encoded as UTF-8).
Each failure is a :class:`PoisonInputError` whose kind names the rule.
"""

from __future__ import annotations

from guardstream.errors import PoisonInputError
from guardstream.limits import CREATED_AT_MS_MAX, LOCALE_CHARS, Limits, id_violation
from guardstream.records import ChatEvent


def _no_nul(field_name: str, value: str) -> None:
    if "\x00" in value:
        raise PoisonInputError(
            "nul_bytes",
            f"{field_name} contains a NUL character at index {value.index(chr(0))} "
            "(not storable in a PostgreSQL text column)",
        )


def _too_long(field_name: str, size: int, limit: int, unit: str = "characters", kind: str = "field_too_long") -> None:
    if size > limit:
        raise PoisonInputError(kind, f"{field_name} has {size} {unit}, limit {limit}")


def check_event(event: ChatEvent, limits: Limits) -> ChatEvent:
    """Return ``event`` if its content is acceptable, else raise :class:`PoisonInputError`."""
    for name in ("event_id", "conversation_id", "user_id"):
        violation = id_violation(getattr(event, name), name)
        if violation is not None:
            raise PoisonInputError(violation.kind, violation.reason)
    text = event.text
    if not text or text.isspace():
        raise PoisonInputError("empty_text", "text is empty or only whitespace")
    _too_long("text", len(text), limits.max_text_chars, kind="text_too_long")
    _no_nul("text", text)
    if event.question is not None:
        _too_long("question", len(event.question), limits.max_text_chars, kind="text_too_long")
        _no_nul("question", event.question)
    if event.context:
        _too_long("context", len(event.context), limits.max_context_turns, unit="turns", kind="text_too_long")
        _too_long("context", sum(map(len, event.context)), limits.max_context_chars, kind="text_too_long")
        for i, turn in enumerate(event.context):
            _no_nul(f"context[{i}]", turn)
    if event.locale is not None:
        _too_long("locale", len(event.locale), LOCALE_CHARS)
        _no_nul("locale", event.locale)
    if event.metadata:
        _too_long("metadata", len(event.metadata), limits.max_metadata_entries, unit="entries")
        total = sum(len(key) + len(value) for key, value in event.metadata.items())
        _too_long("metadata", total, limits.max_metadata_chars)
        for key, value in event.metadata.items():
            _no_nul("metadata key", key)
            _no_nul(f"metadata[{key[:40]!r}]", value)
    if not 0 <= event.created_at_ms <= CREATED_AT_MS_MAX:
        raise PoisonInputError(
            "invalid_value", f"created_at_ms {event.created_at_ms} is outside 0..{CREATED_AT_MS_MAX} (year 9998)"
        )
    return event


def check_encodable(event: ChatEvent) -> None:
    """Reject lone surrogates (JSON's ``\\ud800`` escapes): they cannot be written as UTF-8.

    Needed only for input that did not come through a strict UTF-8 decoder; Avro strings did.
    """
    fields: list[tuple[str, str | None]] = [
        ("event_id", event.event_id),
        ("conversation_id", event.conversation_id),
        ("user_id", event.user_id),
        ("text", event.text),
        ("question", event.question),
        ("locale", event.locale),
    ]
    fields.extend((f"context[{i}]", turn) for i, turn in enumerate(event.context))
    for key, entry in event.metadata.items():
        fields.append(("metadata key", key))
        fields.append((f"metadata[{key!r}]", entry))
    for name, value in fields:
        if value is None:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PoisonInputError("invalid_utf8", f"{name} contains a lone surrogate at index {exc.start}") from None
