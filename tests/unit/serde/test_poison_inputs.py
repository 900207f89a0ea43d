"""Every kind of bad input is rejected with PoisonInputError and the right kind, never a crash."""

from __future__ import annotations

import pytest

from devtools.loadgen.poison import EXPECTED_KIND, poison_payloads
from guardstream.errors import PoisonInputError
from guardstream.records import ChatEvent, Verdict
from guardstream.serde import AvroDecoder, ChatEventDecoder, decode_record, encode_record

CASES = poison_payloads(seed=11)


def test_there_are_at_least_twenty_distinct_poison_cases():
    names = [name for name, _ in CASES]
    assert len(set(names)) == len(names) >= 20
    assert set(names) == set(EXPECTED_KIND)


@pytest.mark.parametrize("name, payload", CASES, ids=[name for name, _ in CASES])
def test_poison_payload_is_rejected_with_expected_kind(name, payload):
    with pytest.raises(PoisonInputError) as err:
        ChatEventDecoder().decode(payload)
    assert err.value.kind == EXPECTED_KIND[name], err.value.reason
    assert err.value.reason and len(err.value.reason) < 500


@pytest.mark.parametrize(
    "changes, kind",
    [
        ({"conversation_id": " "}, "empty_field"),
        ({"user_id": "u" * 300}, "field_too_long"),
        ({"question": "问" * 16_001}, "text_too_long"),
        ({"question": "a\x00"}, "nul_bytes"),
        ({"context": ("ok", "b\x00d")}, "nul_bytes"),
        ({"locale": "zh\x00"}, "nul_bytes"),
        ({"metadata": {"k": "v\x00"}}, "nul_bytes"),
        ({"event_id": "e\x00"}, "nul_bytes"),
        ({"metadata": {"k": "v" * 20_000}}, "field_too_long"),
    ],
)
def test_content_rules_apply_to_every_string_field(make_event, changes, kind):
    with pytest.raises(PoisonInputError) as err:
        ChatEventDecoder().decode(encode_record(make_event(**changes)))
    assert err.value.kind == kind


def test_max_text_chars_is_configurable(make_event):
    payload = encode_record(make_event(text="字" * 101))
    assert ChatEventDecoder(max_text_chars=101).decode(payload).text == "字" * 101
    with pytest.raises(PoisonInputError) as err:
        ChatEventDecoder(max_text_chars=100).decode(payload)
    assert err.value.kind == "text_too_long" and "101" in err.value.reason


def test_none_payload_is_empty_payload():
    with pytest.raises(PoisonInputError) as err:
        ChatEventDecoder().decode(None)
    assert err.value.kind == "empty_payload"


def test_output_record_of_wrong_type_is_poison(sample_records):
    payload = encode_record(sample_records["Verdict"])
    assert decode_record(Verdict, payload) == sample_records["Verdict"]
    with pytest.raises(PoisonInputError) as err:
        AvroDecoder().decode(ChatEvent, payload)
    assert err.value.kind == "wrong_schema"
    with pytest.raises(PoisonInputError) as err:
        decode_record(Verdict, payload[:-3])
    assert err.value.kind == "malformed_avro"
    with pytest.raises(PoisonInputError) as err:
        decode_record(Verdict, b"")
    assert err.value.kind == "empty_payload"
