"""The JSON form of ChatEvent on its own: what parse_json_object and chat_event_from_json accept,
and for each bad document the kind and the reason naming the field and what was wrong with it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from guardstream.errors import PoisonInputError
from guardstream.records import ChatEvent, ChatRole
from guardstream.serde.json_codec import chat_event_from_json, chat_event_to_json, parse_json_object
from tests.unit.serde.conftest import SAMPLE_RECORDS

FULL = SAMPLE_RECORDS["ChatEvent"]
REQUIRED = ("event_id", "conversation_id", "user_id", "text", "role", "created_at_ms")


def doc(**changes: Any) -> dict[str, Any]:
    """The JSON document of the full sample event, with ``changes``."""
    return {**FULL.to_avro(), **changes}


def minimal(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": "e",
        "conversation_id": "c",
        "user_id": "u",
        "role": "user",
        "text": "t",
        "created_at_ms": 5,
        **changes,
    }


def rejected(document: dict[str, Any], kind: str, reason: str) -> None:
    with pytest.raises(PoisonInputError) as err:
        chat_event_from_json(document)
    assert (err.value.kind, err.value.reason) == (kind, reason)


# --- parse_json_object ------------------------------------------------------------------------------


def test_parse_json_object_returns_the_object() -> None:
    assert parse_json_object('{"a": [1, "好"], "b": null}'.encode()) == {"a": [1, "好"], "b": None}


def test_a_payload_that_is_not_utf8_names_the_byte_and_the_reason() -> None:
    with pytest.raises(PoisonInputError) as err:
        parse_json_object(b'{"text": "\xe4\xbb"}')
    assert err.value.kind == "invalid_utf8"
    assert err.value.reason == "JSON payload is not UTF-8: byte 10: invalid continuation byte"


def test_broken_json_is_invalid_json_with_the_parsers_message() -> None:
    with pytest.raises(PoisonInputError, match=r"^invalid JSON: Expecting .*line 1 column") as err:
        parse_json_object(b'{"a": ')
    assert err.value.kind == "invalid_json"


def test_json_nested_too_deeply_is_invalid_json() -> None:
    with pytest.raises(PoisonInputError) as err:
        parse_json_object(b"[" * 100_000 + b"]" * 100_000)
    assert (err.value.kind, err.value.reason) == ("invalid_json", "JSON nested too deeply")


@pytest.mark.parametrize(
    "payload, got",
    [(b"[1]", "list"), (b'"text"', "str"), (b"12", "int"), (b"1.5", "float"), (b"true", "bool"), (b"null", "null")],
)
def test_json_that_is_not_an_object_names_what_it_is(payload: bytes, got: str) -> None:
    with pytest.raises(PoisonInputError) as err:
        parse_json_object(payload)
    assert (err.value.kind, err.value.reason) == ("not_an_object", f"JSON payload must be an object, got {got}")


# --- chat_event_from_json: accepted documents ---------------------------------------------------


def test_a_full_document_builds_every_field() -> None:
    assert chat_event_from_json(doc()) == FULL


def test_optional_fields_absent_or_null_are_the_defaults() -> None:
    expected = ChatEvent(event_id="e", conversation_id="c", user_id="u", role=ChatRole.USER, text="t", created_at_ms=5)
    assert chat_event_from_json(minimal()) == expected
    assert chat_event_from_json(minimal(question=None, locale=None, context=None, metadata=None)) == expected
    event = chat_event_from_json(minimal())
    assert event.context == () and event.metadata == {} and event.question is None and event.locale is None


def test_each_field_lands_where_it_belongs() -> None:
    event = chat_event_from_json(
        minimal(role="assistant", question="q?", locale="en", context=["a", "b"], metadata={"k": "v"})
    )
    assert event == ChatEvent(
        event_id="e",
        conversation_id="c",
        user_id="u",
        role=ChatRole.ASSISTANT,
        text="t",
        question="q?",
        context=("a", "b"),
        created_at_ms=5,
        locale="en",
        metadata={"k": "v"},
    )
    assert type(event.context) is tuple and type(event.metadata) is dict


def test_the_event_does_not_share_the_documents_metadata() -> None:
    document = minimal(metadata={"k": "v"})
    event = chat_event_from_json(document)
    document["metadata"]["k"] = "changed"
    assert event.metadata == {"k": "v"}


def test_unknown_top_level_fields_are_ignored_not_copied_into_metadata() -> None:
    assert chat_event_from_json(minimal(shard=3, extra={"x": 1})) == chat_event_from_json(minimal())


@pytest.mark.parametrize("created", [-(2**63), 0, 2**63 - 1])
def test_created_at_ms_may_be_any_avro_long(created: int) -> None:
    assert chat_event_from_json(minimal(created_at_ms=created)).created_at_ms == created


# --- chat_event_from_json: rejected documents ---------------------------------------------------


@pytest.mark.parametrize("name", REQUIRED)
def test_a_missing_required_field_is_named(name: str) -> None:
    document = minimal()
    del document[name]
    rejected(document, "missing_field", f"required field {name} is missing")


def test_the_first_missing_field_is_reported_in_schema_order() -> None:
    rejected({"text": "t"}, "missing_field", "required field event_id is missing")


@pytest.mark.parametrize("name", ["event_id", "conversation_id", "user_id", "text", "role"])
@pytest.mark.parametrize("value, got", [(None, "null"), (7, "int"), (["x"], "list"), (True, "bool")])
def test_a_required_string_of_another_type_is_wrong_type(name: str, value: Any, got: str) -> None:
    rejected(minimal(**{name: value}), "wrong_type", f"{name} must be a string, got {got}")


@pytest.mark.parametrize("role", ["moderator", "User", ""])
def test_a_role_other_than_user_or_assistant_is_an_invalid_value(role: str) -> None:
    rejected(minimal(role=role), "invalid_value", f"role must be 'user' or 'assistant', got {role!r}")


def test_an_invalid_role_is_quoted_to_forty_characters() -> None:
    role = "abcdefghij" * 4 + "KLMNOPQRST"
    rejected(minimal(role=role), "invalid_value", f"role must be 'user' or 'assistant', got {role[:40]!r}")


@pytest.mark.parametrize(
    "value, got", [(1.7e12, "float"), (5.0, "float"), (True, "bool"), ("1735689600000", "str"), (None, "null")]
)
def test_created_at_ms_must_be_an_integer(value: Any, got: str) -> None:
    rejected(
        minimal(created_at_ms=value),
        "wrong_type",
        f"created_at_ms must be an integer (ms since the Unix epoch), got {got}",
    )


@pytest.mark.parametrize("created", [-(2**63) - 1, 2**63, 10**30])
def test_created_at_ms_outside_the_avro_long_range_is_an_invalid_value(created: int) -> None:
    rejected(minimal(created_at_ms=created), "invalid_value", "created_at_ms is outside the Avro long range")


@pytest.mark.parametrize("name", ["question", "locale"])
@pytest.mark.parametrize("value, got", [(3, "int"), (["x"], "list"), (False, "bool")])
def test_an_optional_string_of_another_type_is_wrong_type(name: str, value: Any, got: str) -> None:
    rejected(minimal(**{name: value}), "wrong_type", f"{name} must be a string or null, got {got}")


@pytest.mark.parametrize("value, got", [("a b", "str"), ({"0": "a"}, "dict"), (3, "int")])
def test_context_that_is_not_a_list_is_wrong_type(value: Any, got: str) -> None:
    rejected(minimal(context=value), "wrong_type", f"context must be a list of strings, got {got}")


def test_a_context_turn_that_is_not_a_string_is_named_by_index() -> None:
    rejected(minimal(context=["ok", "fine", None]), "wrong_type", "context[2] must be a string, got null")
    rejected(minimal(context=[1]), "wrong_type", "context[0] must be a string, got int")


@pytest.mark.parametrize("value, got", [(["k", "v"], "list"), ("k=v", "str"), (1, "int")])
def test_metadata_that_is_not_an_object_is_wrong_type(value: Any, got: str) -> None:
    rejected(minimal(metadata=value), "wrong_type", f"metadata must be an object of strings, got {got}")


def test_a_metadata_value_that_is_not_a_string_is_named_by_its_key_cut_to_forty_characters() -> None:
    rejected(minimal(metadata={"ok": "v", "n": 1}), "wrong_type", "metadata['n'] must be a string, got int")
    key = "k" * 40 + "TAIL"
    rejected(minimal(metadata={key: None}), "wrong_type", f"metadata[{'k' * 40!r}] must be a string, got null")


# --- chat_event_to_json ---------------------------------------------------------------------------


def test_to_json_is_compact_utf8_with_the_schema_field_names() -> None:
    event = ChatEvent(event_id="e", conversation_id="c", user_id="u", role=ChatRole.USER, text="你好", created_at_ms=5)
    assert (
        chat_event_to_json(event)
        == (
            '{"event_id":"e","conversation_id":"c","user_id":"u","role":"user","text":"你好","question":null,'
            '"context":[],"created_at_ms":5,"locale":null,"metadata":{}}'
        ).encode()
    )


def test_to_json_round_trips_through_the_json_decoder() -> None:
    assert chat_event_from_json(parse_json_object(chat_event_to_json(FULL))) == FULL
    assert json.loads(chat_event_to_json(FULL)) == FULL.to_avro()
