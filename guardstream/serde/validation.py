"""Content checks every decoded ChatEvent must pass, whatever its wire format.

The Avro schema guarantees types; these checks cover what it cannot say: ids present, text not
empty, sizes bounded (the guard model and the audit store have limits), no NUL characters
(PostgreSQL text columns reject them) and no lone surrogates (they cannot be encoded as UTF-8).
Each failure is a :class:`PoisonInputError` whose kind names the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from guardstream.errors import PoisonInputError
from guardstream.records import ChatEvent

DEFAULT_MAX_TEXT_CHARS = 16_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on a ChatEvent's content."""

    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    """Longest ``text`` and ``question``, in characters."""
    max_context_chars: int = 4 * DEFAULT_MAX_TEXT_CHARS
    """Longest ``context``, all turns together, in characters."""
    max_id_chars: int = 256
    """Longest event_id, conversation_id and user_id."""
    max_metadata_chars: int = 16_000
    """Longest ``metadata``, keys and values together, in characters."""

    def __post_init__(self) -> None:
        for name in ("max_text_chars", "max_context_chars", "max_id_chars", "max_metadata_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")


def _no_nul(field_name: str, value: str) -> None:
    if "\x00" in value:
        raise PoisonInputError(
            "nul_bytes",
            f"{field_name} contains a NUL character at index {value.index(chr(0))} "
            "(not storable in a PostgreSQL text column)",
        )


def check_event(event: ChatEvent, limits: Limits) -> ChatEvent:
    """Return ``event`` if its content is acceptable, else raise :class:`PoisonInputError`."""
    for name in ("event_id", "conversation_id", "user_id"):
        value = getattr(event, name)
        if not value or value.isspace():
            raise PoisonInputError("empty_field", f"{name} is empty")
        if len(value) > limits.max_id_chars:
            raise PoisonInputError(
                "field_too_long", f"{name} has {len(value)} characters, limit {limits.max_id_chars}"
            )
        _no_nul(name, value)
    text = event.text
    if not text or text.isspace():
        raise PoisonInputError("empty_text", "text is empty or only whitespace")
    if len(text) > limits.max_text_chars:
        raise PoisonInputError(
            "text_too_long", f"text has {len(text)} characters, limit {limits.max_text_chars}"
        )
    _no_nul("text", text)
    if event.question is not None:
        if len(event.question) > limits.max_text_chars:
            raise PoisonInputError(
                "text_too_long",
                f"question has {len(event.question)} characters, limit {limits.max_text_chars}",
            )
        _no_nul("question", event.question)
    if event.context:
        total = 0
        for i, turn in enumerate(event.context):
            total += len(turn)
            _no_nul(f"context[{i}]", turn)
        if total > limits.max_context_chars:
            raise PoisonInputError(
                "text_too_long",
                f"context has {total} characters in {len(event.context)} turns, "
                f"limit {limits.max_context_chars}",
            )
    if event.locale is not None:
        _no_nul("locale", event.locale)
        if len(event.locale) > limits.max_id_chars:
            raise PoisonInputError("field_too_long", f"locale has {len(event.locale)} characters")
    if event.metadata:
        total = 0
        for key, value in event.metadata.items():
            total += len(key) + len(value)
            _no_nul("metadata key", key)
            _no_nul(f"metadata[{key[:40]!r}]", value)
        if total > limits.max_metadata_chars:
            raise PoisonInputError(
                "field_too_long",
                f"metadata has {total} characters, limit {limits.max_metadata_chars}",
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
    for key, value in event.metadata.items():
        fields.append(("metadata key", key))
        fields.append((f"metadata[{key!r}]", value))
    for name, value in fields:
        if value is None:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PoisonInputError(
                "invalid_utf8", f"{name} contains a lone surrogate at index {exc.start}"
            ) from None
