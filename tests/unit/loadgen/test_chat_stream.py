"""The synthetic chat stream is realistic, reproducible, and decodable; poison is always rejected."""

from __future__ import annotations

import collections
import itertools

import pytest

from devtools.loadgen.chat_stream import generate_chat_events, poison_payloads
from devtools.loadgen.corpus import HARM_CATEGORIES
from guardstream.errors import PoisonInputError
from guardstream.records import ChatEvent, ChatRole
from guardstream.serde import ChatEventDecoder, encode_record
from guardstream.serde.json_codec import chat_event_to_json

N = 3000


@pytest.fixture(scope="module")
def events() -> list[ChatEvent]:
    return list(generate_chat_events(N, seed=1234, start_ms=1_735_689_600_000))


def test_same_seed_gives_the_same_stream_and_another_seed_differs(events):
    again = list(generate_chat_events(N, seed=1234, start_ms=1_735_689_600_000))
    assert again == events
    other = list(generate_chat_events(50, seed=99, start_ms=1_735_689_600_000))
    assert [e.text for e in other] != [e.text for e in events[:50]]


def test_count_ids_and_clock(events):
    assert len(events) == N
    assert len({e.event_id for e in events}) == N
    stamps = [e.created_at_ms for e in events]
    assert stamps == sorted(stamps) and stamps[0] >= 1_735_689_600_000
    assert list(generate_chat_events(0, seed=1)) == []


def test_every_generated_event_decodes_in_both_formats(events):
    decoder = ChatEventDecoder()
    for event in events:
        assert decoder.decode(encode_record(event)) == event
        assert decoder.decode(chat_event_to_json(event)) == event


def test_conversations_are_interleaved_and_replies_carry_their_question(events):
    first_run = [e.conversation_id for e in events[:20]]
    assert len(set(first_run)) > 5  # many conversations at once
    previous_user: dict[str, str] = {}
    for e in events:
        if e.role is ChatRole.ASSISTANT:
            assert e.question and e.question == previous_user[e.conversation_id]
            assert e.guard_pair() == (e.question, e.text)
        else:
            assert e.question is None
            previous_user[e.conversation_id] = e.text
    by_conv = collections.defaultdict(list)
    for e in events:
        earlier = by_conv[e.conversation_id]
        assert list(e.context) == earlier[len(earlier) - len(e.context) :]  # oldest first
        by_conv[e.conversation_id].append(e.text)


def test_length_distribution_spans_a_few_characters_to_a_few_hundred(events):
    lengths = sorted(len(e.text) for e in events)
    assert lengths[0] <= 4
    assert 100 <= lengths[-1] <= 1000
    assert 8 <= lengths[len(lengths) // 2] <= 80
    assert sum(n >= 100 for n in lengths) >= N // 50


def test_mostly_ordinary_with_a_minority_of_harm_across_all_seven_scenarios(events):
    expected = collections.Counter(e.metadata["expected"] for e in events)
    share_unsafe = expected["unsafe"] / N
    assert 0.03 <= share_unsafe <= 0.2
    categories = {e.metadata.get("harm_category") for e in events} - {None}
    assert categories == set(HARM_CATEGORIES.values())
    scenarios = collections.Counter(e.metadata["scenario"] for e in events)
    assert scenarios["harmful_refused"] > 0 and scenarios["harmful_complied"] > 0
    refusals = [e for e in events if e.metadata["scenario"] == "harmful_refused" and e.role is ChatRole.ASSISTANT]
    assert refusals and all(e.metadata["expected"] == "safe" for e in refusals)


def test_text_is_chinese(events):
    cjk = sum(1 for e in events for ch in e.text if "\u4e00" <= ch <= "\u9fff")
    assert cjk / sum(len(e.text) for e in events) > 0.6


def test_start_ms_defaults_to_now():
    import time

    first = next(generate_chat_events(1, seed=5))
    assert abs(first.created_at_ms - time.time() * 1000) < 60_000


def test_every_poison_payload_is_rejected_for_several_seeds():
    decoder = ChatEventDecoder()
    for seed in range(3):
        cases = poison_payloads(seed)
        assert len({name for name, _ in cases}) >= 20
        for _name, payload in cases:
            with pytest.raises(PoisonInputError):
                decoder.decode(payload)
    assert poison_payloads(7) == poison_payloads(7)


def test_events_are_lazily_generated():
    stream = generate_chat_events(10**9, seed=3, start_ms=0)
    assert len(list(itertools.islice(stream, 5))) == 5
