"""The ``fuzz`` scenario's input: events at and beyond the limit of every field, each with its fate.

A seeded generator of our own (the chaos suite runs without test dependencies). Every case says
what the worker must do with it, decided here from :mod:`guardstream.limits` and never by asking
the validator: ``expected_kind`` None means a verdict (and an audit row holding exactly what was
sent), anything else a dead letter of that kind. Cases cover, for every field: length at the
limit and one past it; NUL, control characters and lone surrogates; huge maps and lists; odd
Unicode (right-to-left and zero-width marks, emoji ZWJ sequences, combining marks, full-width
forms, noncharacters); ids with path characters (:mod:`devtools.chaos.fuzz_ids`); and what only a
Kafka record carries (keys and headers). Each valid-looking case is sent as Avro single-object
encoding or JSON in turn; lone surrogates only exist in JSON.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

from devtools.chaos.fuzz_ids import reviewable_ids
from guardstream.limits import (
    CREATED_AT_MS_MAX,
    ID_CHARS,
    KEY_BYTES,
    LOCALE_CHARS,
    Limits,
)
from guardstream.records import ChatEvent, ChatRole
from guardstream.serde.codec import encode_record
from guardstream.serde.json_codec import chat_event_to_json

ODD = (
    "\u200f", "\u202e", "\u200b", "\ufeff", "\u2066", "👩\u200d👩\u200d👧\u200d👦", "🏳\ufe0f\u200d🌈", "e\u0301\u0302\u0303",
    "ＦＵＬＬ", "\uffff", "\ufffe", "\U0010fffd", "\u0085", "\x1b[31m", "\x07", "\r\n", "\t", "\u2028", "🇨🇳",
)  # fmt: skip
"""Odd characters every text field accepts (control characters other than NUL included)."""
CONTROLS = ("\x01", "\x1b", "\x7f", "\x85", "\x9f", "\t", "\n", "\r")
"""Control characters no id may hold (NUL has its own kind)."""


@dataclass(frozen=True, slots=True)
class FuzzCase:
    name: str
    key: bytes | None
    value: bytes
    expected_kind: str | None
    """None: must get a verdict; else the dead letter's kind."""
    event_id: str | None
    headers: list[tuple[str, bytes]] | None = None


def fuzz_cases(seed: int, tag: str, limits: Limits = Limits()) -> list[FuzzCase]:
    """Every case of the scenario, for a fresh audit store: ``tag`` marks the event ids built here,
    but the hostile ids of :func:`~devtools.chaos.fuzz_ids.reviewable_ids` come bare (``..``, ``/``)."""
    return list(_Cases(seed, tag, limits).all())


class _Cases:
    def __init__(self, seed: int, tag: str, limits: Limits) -> None:
        self.rng = random.Random(seed)
        self.tag = tag
        self.limits = limits
        self.count = 0

    def base(self) -> ChatEvent:
        self.count += 1
        return ChatEvent(
            event_id=f"{self.tag}-fuzz-{self.count}",
            conversation_id=f"{self.tag}-conv-{self.count % 7}",
            user_id=f"{self.tag}-user-{self.count % 5}",
            role=ChatRole.ASSISTANT if self.count % 2 else ChatRole.USER,
            text="今天直播几点开始？",
            question="请问主播在吗" if self.count % 2 else None,
            context=("上一句",),
            created_at_ms=1_767_225_600_000,
            locale="zh-CN",
            metadata={"source": "chaos.fuzz"},
        )

    def event(self, name: str, expected: str | None, **changes: object) -> FuzzCase:
        """One event with ``changes``, in Avro and JSON by turns."""
        event = dataclasses.replace(self.base(), **changes)  # type: ignore[arg-type]  # the fuzzed values are deliberately of any type: the decoder must refuse them
        value = encode_record(event) if self.count % 2 else chat_event_to_json(event)
        return FuzzCase(name, _key(event), value, expected, event.event_id if expected is None else None)

    def json(self, name: str, expected: str | None, **changes: object) -> FuzzCase:
        """A JSON document built by hand: lone surrogates, duplicate keys, values of any type."""
        event = self.base()
        doc = {**event.to_avro(), **changes}
        event_id = doc["event_id"] if expected is None else None
        value = json.dumps(doc, ensure_ascii=True).encode("ascii")
        return FuzzCase(name, _key(event), value, expected, event_id)

    def all(self) -> Iterator[FuzzCase]:
        yield from self.ids()
        yield from self.lengths()
        yield from self.characters()
        yield from self.collections()
        yield from self.kafka()

    def ids(self) -> Iterator[FuzzCase]:
        fields = ("event_id", "conversation_id", "user_id")
        for index, value in enumerate(reviewable_ids(seed=self.rng.randrange(1 << 30))):  # bare shapes too
            field = fields[index % 3]
            changes = (
                {field: value} if field == "event_id" else {field: value, "event_id": f"{self.tag}-{field}-{index}"}
            )
            yield self.event(f"id_{field}", None, **changes)

    def lengths(self) -> Iterator[FuzzCase]:
        text_chars = self.limits.max_text_chars
        for field in ("event_id", "conversation_id", "user_id"):
            yield self.event(f"{field}_at_limit", None, **{field: _sized(f"{self.tag}-{field}", ID_CHARS)})
            yield self.event(
                f"{field}_past_limit", "field_too_long", **{field: _sized(f"{self.tag}-{field}", ID_CHARS + 1)}
            )
        yield self.event("text_at_limit", None, text=_sized("文", text_chars))
        yield self.event("text_past_limit", "text_too_long", text=_sized("文", text_chars + 1))
        yield self.event("question_at_limit", None, role=ChatRole.ASSISTANT, question=_sized("问", text_chars))
        yield self.event("question_past_limit", "text_too_long", question=_sized("问", text_chars + 1))
        yield self.event("locale_at_limit", None, locale=_sized("zh-", LOCALE_CHARS))
        yield self.event("locale_past_limit", "field_too_long", locale=_sized("zh-", LOCALE_CHARS + 1))
        context_chars = self.limits.max_context_chars
        yield self.event("context_chars_at_limit", None, context=_split(context_chars, 40))
        yield self.event("context_chars_past_limit", "text_too_long", context=_split(context_chars + 1, 40))
        metadata_chars = self.limits.max_metadata_chars
        yield self.event("metadata_chars_at_limit", None, metadata={"k": "v" * (metadata_chars - 1)})
        yield self.event("metadata_chars_past_limit", "field_too_long", metadata={"k": "v" * metadata_chars})
        yield self.event("created_at_zero", None, created_at_ms=0)
        yield self.event("created_at_max", None, created_at_ms=CREATED_AT_MS_MAX)
        yield self.event("created_at_negative", "invalid_value", created_at_ms=-1)
        yield self.event("created_at_past_max", "invalid_value", created_at_ms=CREATED_AT_MS_MAX + 1)
        yield self.event("created_at_long_min", "invalid_value", created_at_ms=-(2**63))

    def characters(self) -> Iterator[FuzzCase]:
        for field in ("event_id", "conversation_id", "user_id"):
            yield self.event(f"nul_in_{field}", "nul_bytes", **{field: f"{self.tag}\x00{field}"})
            for control in CONTROLS:
                yield self.event(f"control_in_{field}", "control_characters", **{field: f"{self.tag}{control}{field}"})
            yield self.json(f"surrogate_in_{field}", "invalid_utf8", **{field: f"{self.tag}\udc80{field}"})
            yield self.event(f"blank_{field}", "empty_field", **{field: "\u3000\u2028\u00a0 "})
        for field in ("text", "question", "locale"):
            yield self.event(f"nul_in_{field}", "nul_bytes", **{field: "你好\x00世界"})
            yield self.json(f"surrogate_in_{field}", "invalid_utf8", **{field: "你好\ud83d世界"})
            for index, odd in enumerate(ODD):
                yield self.event(f"odd_{field}_{index}", None, **{field: f"你{odd}好"})
        yield self.event("text_only_zero_width", None, text="\u200b\u200d\ufeff")
        yield self.event("text_only_combining_marks", None, text="\u0301" * 500)
        yield self.event("text_only_emoji_zwj", None, text="👩\u200d👩\u200d👧\u200d👦" * 200)
        yield self.event("text_blank_unicode", "empty_text", text="\u3000\u2028\u2029\u00a0\t")
        yield self.event("nul_in_context", "nul_bytes", context=("ok", "b\x00d"))
        yield self.json("surrogate_in_context", "invalid_utf8", context=["ok", "\udfff"])
        yield self.event("nul_in_metadata_key", "nul_bytes", metadata={"k\x00": "v"})
        yield self.event("nul_in_metadata_value", "nul_bytes", metadata={"k": "v\x00"})
        yield self.json("surrogate_in_metadata_key", "invalid_utf8", metadata={"k\ud800": "v"})
        yield self.event("odd_metadata", None, metadata={odd: odd for odd in ODD})
        yield self.event("odd_context", None, context=ODD)
        yield self.json("json_escaped_nul_in_text", "nul_bytes", text="a\u0000b")

    def collections(self) -> Iterator[FuzzCase]:
        turns, entries = self.limits.max_context_turns, self.limits.max_metadata_entries
        yield self.event("context_turns_at_limit", None, context=("轮",) * turns)
        yield self.event("context_turns_past_limit", "text_too_long", context=("轮",) * (turns + 1))
        yield self.event("context_huge_list_of_empty", "text_too_long", context=("",) * 200_000)
        yield self.event("metadata_entries_at_limit", None, metadata={f"{i}": "" for i in range(entries)})
        yield self.event(
            "metadata_entries_past_limit", "field_too_long", metadata={f"{i}": "" for i in range(entries + 1)}
        )
        yield self.event("metadata_huge_map", "field_too_long", metadata={f"{i:x}": "" for i in range(100_000)})
        yield self.json("json_metadata_nested_map", "wrong_type", metadata={"k": {"deep": ["x"] * 1000}})
        yield self.json("json_context_nested_list", "wrong_type", context=[["x"] * 1000])
        yield self.json("json_unknown_fields_are_ignored", None, extra={"x": list(range(1000))}, score=1e308)

    def kafka(self) -> Iterator[FuzzCase]:
        ok = self.event("key_at_limit", None)
        yield dataclasses.replace(ok, key=b"k" * KEY_BYTES)
        past = self.event("key_past_limit", "key_too_large")
        yield dataclasses.replace(past, key=b"k" * (KEY_BYTES + 1))
        huge = self.event("poison_with_huge_key", "key_too_large", text="")
        yield dataclasses.replace(huge, key=self.rng.randbytes(2 * 1024 * 1024))
        binary = self.event("binary_key", None)
        yield dataclasses.replace(binary, key=b"\x00\xff\xfe" + self.rng.randbytes(64))
        none = self.event("no_key", None)
        yield dataclasses.replace(none, key=None)
        headers = self.event("odd_headers", None)
        yield dataclasses.replace(
            headers,
            headers=[
                ("traceparent", b"00-zz-\x00\xff"),
                ("x-odd", "\u202e\u200b".encode()),
                ("x-binary", b"\x00\xff" * 100),
            ],
        )
        bom = self.event("json_with_utf8_bom", "unknown_format")
        value = b"\xef\xbb\xbf" + chat_event_to_json(self.base())
        yield dataclasses.replace(bom, value=value)


def _key(event: ChatEvent) -> bytes:
    return event.conversation_id.encode("utf-8")


def _sized(head: str, length: int) -> str:
    """``head`` padded with hostile pieces to exactly ``length`` characters."""
    return (head + "/..%2F长😀\u200fe\u0301" * length)[:length]


def _split(chars: int, turns: int) -> tuple[str, ...]:
    """``chars`` characters spread over ``turns`` turns."""
    size, rest = divmod(chars, turns)
    return tuple("语" * (size + (1 if index < rest else 0)) for index in range(turns))
