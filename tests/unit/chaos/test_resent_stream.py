"""The duplicates scenario's stream: which events are sent twice, where the copies go."""

from __future__ import annotations

from devtools.chaos.stream import resent_stream, valid_records


def test_a_tenth_of_the_events_is_sent_again_in_each_of_three_ways() -> None:
    events = list(valid_records(300, 4, "run", 0.2))
    stream = resent_stream(events, 0.1, seed=9)

    originals = [record for record in stream.first if record.case == "valid"]
    assert originals == events
    copies = [record for record in stream.first + stream.late if record.case != "valid"]
    assert len(copies) == 30 and {record.case for record in copies} == {
        "resent:batch",
        "resent:partition",
        "resent:late",
    }
    assert len({record.event_id for record in copies}) == 30
    place = {id(record): index for index, record in enumerate(stream.first)}
    first_place = {record.event_id: place[id(record)] for record in originals}
    for index, record in enumerate(stream.first):
        if record.case == "resent:batch":
            assert stream.first[index - 1].event_id == record.event_id
            assert (record.key, record.value) == (stream.first[index - 1].key, stream.first[index - 1].value)
        if record.case == "resent:partition":
            assert index > first_place[record.event_id] and record.key.endswith(b"/resent")  # type: ignore[union-attr]
    assert all(record.case == "resent:late" for record in stream.late) and len(stream.late) == 10
    assert resent_stream(events, 0.1, seed=9) == stream
