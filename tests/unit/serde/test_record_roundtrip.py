"""Every record survives encode → decode unchanged, in each framing, and ChatEvent in JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest

from guardstream.records import ChatEvent, ChatRole
from guardstream.serde import AvroDecoder, ChatEventDecoder, decode_record, encode_record
from guardstream.serde.json_codec import chat_event_to_json


def test_every_record_round_trips_in_single_object_encoding(sample_record):
    payload = encode_record(sample_record)
    assert payload[:2] == b"\xc3\x01"
    assert decode_record(type(sample_record), payload) == sample_record


def test_avro_dict_round_trip_is_identity(sample_record):
    assert type(sample_record).from_avro(sample_record.to_avro()) == sample_record


@pytest.mark.parametrize("name", ["ChatEvent", "ChatEvent-minimal"])
def test_chat_event_decoder_reads_single_object(name, sample_records):
    event = sample_records[name]
    assert ChatEventDecoder().decode(encode_record(event)) == event


@pytest.mark.parametrize("name", ["ChatEvent", "ChatEvent-minimal"])
def test_chat_event_round_trips_through_json(name, sample_records):
    event = sample_records[name]
    assert ChatEventDecoder().decode(chat_event_to_json(event)) == event


def test_json_accepts_leading_whitespace_nulls_for_optionals_and_ignores_unknown_fields():
    doc = {
        "event_id": "e1",
        "conversation_id": "c1",
        "user_id": "u1",
        "role": "user",
        "text": "你好",
        "created_at_ms": 5,
        "question": None,
        "context": None,
        "locale": None,
        "metadata": None,
        "producer_version": "9.9",
        "priority": 3,
    }
    event = ChatEventDecoder().decode(b"\n  " + json.dumps(doc).encode())
    assert event == ChatEvent(
        event_id="e1",
        conversation_id="c1",
        user_id="u1",
        role=ChatRole.USER,
        text="你好",
        created_at_ms=5,
    )
    assert event.metadata == {}  # unknown fields are dropped, not folded into metadata


def test_decode_record_reads_memoryview_and_bytearray(make_event):
    event = make_event()
    payload = encode_record(event)
    assert ChatEventDecoder().decode(bytearray(payload)) == event
    assert AvroDecoder().decode(ChatEvent, memoryview(payload)) == event


def test_guard_pair_judges_user_message_alone_and_reply_with_its_question(make_event):
    user = make_event(role=ChatRole.USER, question=None, text="在吗")
    reply = make_event(role=ChatRole.ASSISTANT, question="今天天气如何", text="晴天")
    orphan = make_event(role=ChatRole.ASSISTANT, question=None, text="晴天")
    assert user.guard_pair() == ("在吗", "")
    assert reply.guard_pair() == ("今天天气如何", "晴天")
    assert orphan.guard_pair() == ("", "晴天")


def test_records_are_frozen_and_slotted(sample_record):
    first = dataclasses.fields(sample_record)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(sample_record, first, "x")
    assert not hasattr(sample_record, "__dict__")
