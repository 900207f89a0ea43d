"""Confluent schema-registry framing through confluent-kafka's own serializers.

There is no schema-registry server in unit tests: these use confluent-kafka's built-in in-memory
registry (``mock://`` URL), which assigns ids and stores schemas like the real one.
"""

from __future__ import annotations

import uuid

import pytest

from guardstream.errors import PoisonInputError
from guardstream.records import ChatEvent
from guardstream.serde import AvroDecoder, AvroEncoder, ChatEventDecoder, default_schema_set
from tests.support.stack import unavailable

try:  # the registry extras (authlib, cachetools) may be missing from a minimal install
    import confluent_kafka.schema_registry  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    unavailable(
        f"confluent_kafka.schema_registry not importable ({exc})",
        "install confluent-kafka[avro,schemaregistry]",
        module=True,
    )

from guardstream.serde.confluent import ConfluentSerde


@pytest.fixture
def serde():
    # A fresh in-memory registry per test (the mock keeps state per URL).
    return ConfluentSerde.from_url(f"mock://guardstream-{uuid.uuid4().hex}")


def test_every_record_round_trips_with_confluent_framing(serde, sample_record):
    payload = AvroEncoder(serde).encode(sample_record, topic="moderation.test")
    assert payload[0] == 0x00
    schema_id = int.from_bytes(payload[1:5], "big")
    registered = serde.client.get_schema(schema_id)
    assert type(sample_record).AVRO_NAME.split(".")[-1] in registered.schema_str
    assert AvroDecoder(serde).decode(type(sample_record), payload) == sample_record


def test_chat_event_decoder_reads_confluent_framing_when_registry_configured(serde, make_event):
    event = make_event()
    payload = AvroEncoder(serde).encode(event, topic="chat.events")
    version = default_schema_set().get(ChatEvent.AVRO_NAME)
    decoder = ChatEventDecoder(registry_deserializer=serde.deserializer(version))
    assert decoder.decode(payload) == event
    # Without a registry the same bytes are poison, with a reason that says why.
    with pytest.raises(PoisonInputError) as err:
        ChatEventDecoder().decode(payload)
    assert err.value.kind == "unknown_format" and "registry" in err.value.reason


def test_subject_is_topic_value_or_record_name(serde, sample_records):
    AvroEncoder(serde).encode(sample_records["Verdict"], topic="moderation.verdicts")
    AvroEncoder(serde).encode(sample_records["Action"])
    assert set(serde.client.get_subjects()) == {"moderation.verdicts-value", "guardstream.Action"}


@pytest.mark.parametrize(
    "payload, kind",
    [
        (b"\x00\x00\x00", "truncated_header"),
        (b"\x00\x00\x00\x7f\xff\x02hi", "unknown_schema"),
    ],
)
def test_bad_confluent_payloads_are_poison(serde, payload, kind):
    version = default_schema_set().get(ChatEvent.AVRO_NAME)
    decoder = ChatEventDecoder(registry_deserializer=serde.deserializer(version))
    with pytest.raises(PoisonInputError) as err:
        decoder.decode(payload)
    assert err.value.kind == kind


def test_truncated_confluent_body_and_content_rules_are_poison(serde, make_event):
    version = default_schema_set().get(ChatEvent.AVRO_NAME)
    encoder = AvroEncoder(serde)
    decoder = ChatEventDecoder(registry_deserializer=serde.deserializer(version))
    good = encoder.encode(make_event(), topic="chat.events")
    with pytest.raises(PoisonInputError) as err:
        decoder.decode(good[: len(good) // 2])
    assert err.value.kind == "malformed_avro"
    with pytest.raises(PoisonInputError) as err:
        decoder.decode(encoder.encode(make_event(text="  "), topic="chat.events"))
    assert err.value.kind == "empty_text"
