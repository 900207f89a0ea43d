"""Properties: decode() never raises anything but PoisonInputError; valid events round-trip."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardstream.errors import PoisonInputError
from guardstream.limits import CREATED_AT_MS_MAX, ID_CHARS
from guardstream.records import ChatEvent, ChatRole
from guardstream.serde import ChatEventDecoder, encode_record
from guardstream.serde.json_codec import chat_event_to_json

DECODER = ChatEventDecoder()
# GUARDSTREAM_FUZZ_EXAMPLES=20000 for a long fuzzing run; the default keeps unit tests fast.
PROPERTY = settings(
    max_examples=int(os.environ.get("GUARDSTREAM_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Strings the contract accepts: no NUL, no lone surrogates; in ids, no control characters either.
safe_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
non_blank = safe_text.filter(lambda s: s.strip() != "")
ids = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=ID_CHARS).filter(
    lambda s: s.strip() != ""
)
events = st.builds(
    ChatEvent,
    event_id=ids,
    conversation_id=ids,
    user_id=ids,
    role=st.sampled_from(ChatRole),
    text=non_blank,
    question=st.none() | safe_text,
    context=st.lists(safe_text, max_size=4).map(tuple),
    created_at_ms=st.integers(0, CREATED_AT_MS_MAX),
    locale=st.none() | safe_text,
    metadata=st.dictionaries(safe_text, safe_text, max_size=4),
)


def decodes_or_poison(payload: bytes) -> None:
    try:
        result = DECODER.decode(payload)
    except PoisonInputError as exc:
        assert exc.kind and exc.reason
    else:
        assert isinstance(result, ChatEvent)


@PROPERTY
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_poison(payload):
    decodes_or_poison(payload)


@PROPERTY
@given(st.binary(max_size=200))
def test_arbitrary_bodies_behind_a_valid_header_never_raise_anything_but_poison(body):
    header = encode_record(
        ChatEvent(event_id="e", conversation_id="c", user_id="u", role=ChatRole.USER, text="t", created_at_ms=0)
    )[:10]
    decodes_or_poison(header + body)


def mutate(data: st.DataObject, payload: bytes) -> bytes:
    buf = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "duplicate"]))
        pos = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set" and buf:
            buf[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=9))
        elif op == "delete":
            del buf[pos : pos + data.draw(st.integers(1, 9))]
        elif op == "truncate":
            del buf[pos:]
        elif op == "duplicate":
            buf[pos:pos] = buf[pos : pos + data.draw(st.integers(1, 16))]
    return bytes(buf)


@PROPERTY
@given(events, st.data())
def test_mutated_single_object_encodings_never_raise_anything_but_poison(event, data):
    decodes_or_poison(mutate(data, encode_record(event)))


@PROPERTY
@given(events, st.data())
def test_mutated_json_encodings_never_raise_anything_but_poison(event, data):
    decodes_or_poison(mutate(data, chat_event_to_json(event)))


@PROPERTY
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    ),
    st.sampled_from(["event_id", "role", "text", "created_at_ms", "context", "metadata", "question"]),
)
def test_json_with_any_value_in_any_field_never_raises_anything_but_poison(value, field):
    doc = json.loads(
        chat_event_to_json(
            ChatEvent(event_id="e", conversation_id="c", user_id="u", role=ChatRole.USER, text="t", created_at_ms=0)
        )
    )
    doc[field] = value
    decodes_or_poison(json.dumps(doc).encode())


@PROPERTY
@given(events)
def test_valid_events_round_trip_in_single_object_and_json(event):
    assert DECODER.decode(encode_record(event)) == event
    assert DECODER.decode(chat_event_to_json(event)) == event


@PROPERTY
@given(events, st.sampled_from(["event_id", "conversation_id", "user_id"]), st.data())
def test_an_id_with_a_control_character_is_poison_wherever_it_sits(event, field, data):
    value = getattr(event, field)
    control = data.draw(st.characters(categories=("Cc",)))
    at = data.draw(st.integers(0, len(value)))
    mutated = dataclasses.replace(event, **{field: (value[:at] + control + value[at:])[-ID_CHARS:]})
    with pytest.raises(PoisonInputError) as error:
        DECODER.decode(chat_event_to_json(mutated))
    assert error.value.kind == ("nul_bytes" if control == "\x00" else "control_characters")


@PROPERTY
@given(events, st.integers(-(2**63), -1) | st.integers(CREATED_AT_MS_MAX + 1, 2**63 - 1))
def test_a_creation_time_no_date_can_show_is_poison(event, created_at_ms):
    with pytest.raises(PoisonInputError) as error:
        DECODER.decode(encode_record(dataclasses.replace(event, created_at_ms=created_at_ms)))
    assert error.value.kind == "invalid_value"
