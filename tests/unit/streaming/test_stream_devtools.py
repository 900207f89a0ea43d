"""The generated streamed replies, the order a gateway sends their chunks in, and what a run shows."""

from __future__ import annotations

from dataclasses import replace

from devtools.streams.measure import contract_problems, measure_quality
from devtools.streams.replies import SENSITIVE_SAFE, generate_replies
from devtools.streams.session import StreamOutputs, chunk_records
from guardstream.records import Verdict, VerdictLabel
from guardstream.streaming.records import StreamAction, StreamRetraction, StreamVerdict


def test_replies_are_their_chunks_and_the_harm_starts_where_they_say() -> None:
    replies = list(generate_replies(300, seed=3, run_id="t"))
    assert 0.35 < sum(r.unsafe for r in replies) / len(replies) < 0.65
    for reply in replies:
        assert "".join(reply.chunks) == reply.text
        assert all(1 <= len(chunk) <= 20 for chunk in reply.chunks)
        if reply.unsafe:
            assert reply.harmful_offset is not None and 0 < reply.harmful_offset < len(reply.text)
            assert not any(sentence in reply.text[reply.harmful_offset :] for sentence in SENSITIVE_SAFE)
        else:
            assert any(sentence in reply.text for sentence in SENSITIVE_SAFE)
    assert [r.text for r in generate_replies(5, seed=3, run_id="t")] == [r.text for r in replies[:5]]


def test_chunks_interleave_the_open_streams_each_in_order_with_one_final() -> None:
    replies = list(generate_replies(7, seed=1, run_id="t"))
    chunks = chunk_records(replies, open_streams=3, now_ms=0)
    assert {c.stream_id for c in chunks[:3]} == {r.stream_id for r in replies[:3]}
    for reply in replies:
        own = [c for c in chunks if c.stream_id == reply.stream_id]
        assert [c.seq for c in own] == list(range(len(reply.chunks)))
        assert [c.final for c in own] == [False] * (len(own) - 1) + [True]
        assert own[0].question == reply.question and "".join(c.delta for c in own) == reply.text


def _verdict(stream: str, seq: int, action: StreamAction, chars: int, final: bool = False) -> StreamVerdict:
    return StreamVerdict(
        stream_id=stream, conversation_id="c", user_id="u", seq=seq, label=VerdictLabel.SAFE, p_unsafe=0.1,
        chars=chars, action=action, visible_chars=0, final=final, model_name="m", model_version="1",
        policy_id="global", policy_version="v", decided_at_ms=0, source_partition=0, source_offset=seq,
    )  # fmt: skip


def _final(stream: str) -> Verdict:
    return Verdict(
        event_id=stream, conversation_id="c", user_id="u", label=VerdictLabel.SAFE, p_unsafe=0.1, model_name="m",
        model_version="1", policy_version="v", event_created_at_ms=0, verdict_at_ms=0, queue_ms=0, inference_ms=0,
        end_to_end_ms=0, source_topic="t", source_partition=0, source_offset=0,
    )  # fmt: skip


def _retraction(stream: str, action: StreamAction) -> StreamRetraction:
    return StreamRetraction(
        stream_id=stream, conversation_id="c", user_id="u", retracted_seq=1, retracted_action=StreamAction.STOP,
        action=action, reason="r", p_unsafe=0.1, retracted_at_ms=0, source_partition=0, source_offset=0,
    )  # fmt: skip


def test_quality_counts_delays_past_the_harm_and_stops_of_safe_replies() -> None:
    unsafe, safe = (
        [r for r in generate_replies(40, seed=2, run_id="t") if r.unsafe][:2],
        [r for r in generate_replies(40, seed=2, run_id="t") if not r.unsafe][:2],
    )
    offset = unsafe[0].harmful_offset or 0
    outputs = StreamOutputs(
        records=[
            _verdict(unsafe[0].stream_id, 0, StreamAction.HOLD, offset + 3),
            _verdict(unsafe[0].stream_id, 1, StreamAction.STOP, offset + 9),
            _verdict(unsafe[1].stream_id, 0, StreamAction.STOP, 50, final=True),  # only the final: not detected
            _verdict(safe[0].stream_id, 0, StreamAction.STOP, 10),
            _verdict(safe[1].stream_id, 0, StreamAction.CONTINUE, 10),
        ]
    )
    outputs.finals = [replace(_final(unsafe[1].stream_id), label=VerdictLabel.UNSAFE), _final(unsafe[0].stream_id)]
    outputs.finals += [replace(_final(safe[0].stream_id), label=VerdictLabel.UNSAFE), _final(safe[1].stream_id)]
    quality = measure_quality(unsafe + safe, outputs)
    assert (quality.final_recall, quality.final_false_unsafe_rate) == (0.5, 0.5)
    assert (quality.detected, quality.delays, quality.false_stops, quality.safe) == (1, (9,), 1, 2)
    assert quality.false_stop_rate == 0.5 and quality.recall == 0.5


def test_contract_problems_name_gaps_doubles_and_silent_changes() -> None:
    [reply] = [r for r in generate_replies(1, seed=4, run_id="t")]
    n, sid = len(reply.chunks), reply.stream_id
    good: list[StreamVerdict | StreamRetraction] = [
        _verdict(sid, seq, StreamAction.CONTINUE, seq) for seq in range(n - 1)
    ]
    good.append(_verdict(sid, n - 1, StreamAction.CONTINUE, n, final=True))
    assert contract_problems([reply], StreamOutputs(records=list(good), finals=[_final(sid)])) == []
    assert "2 final verdicts" in contract_problems([reply], StreamOutputs(list(good), [_final(sid)] * 2))[0]
    doubled = StreamOutputs([*good[:1], *good], [_final(sid)])
    assert "stream verdicts for seqs" in contract_problems([reply], doubled)[0]
    stopped: list[StreamVerdict | StreamRetraction] = [_verdict(sid, 0, StreamAction.STOP, 1), *good[1:]]
    assert "after a stop" in contract_problems([reply], StreamOutputs(stopped, [_final(sid)]))[0]
    retracted: list[StreamVerdict | StreamRetraction] = [stopped[0], _retraction(sid, StreamAction.CONTINUE), *good[1:]]
    assert contract_problems([reply], StreamOutputs(retracted, [_final(sid)])) == []
