"""What a run of streamed replies shows: detection delay, false stops, and the contract's invariants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from devtools.bench.stats import percentile
from devtools.streams.replies import StreamedReply
from devtools.streams.session import StreamOutputs, StreamRecord
from guardstream.records import VerdictLabel
from guardstream.streaming.records import StreamAction, StreamRetraction, StreamVerdict


@dataclass(frozen=True, slots=True)
class StreamQuality:
    unsafe: int
    detected: int
    """Unsafe replies stopped by a provisional decision (before their final verdict)."""
    delays: tuple[int, ...]
    """Per detected reply: characters received when it was stopped, past where the harm began."""
    safe: int
    false_stops: int
    """Safe replies that a provisional decision stopped."""
    final_unsafe_of_unsafe: int = 0
    """Unsafe replies whose final verdict (the whole reply, by the plain guard) is unsafe."""
    final_unsafe_of_safe: int = 0
    """Safe replies whose final verdict is unsafe."""

    @property
    def delay_p50(self) -> float:
        return percentile(list(self.delays), 50) if self.delays else float("nan")

    @property
    def delay_p95(self) -> float:
        return percentile(list(self.delays), 95) if self.delays else float("nan")

    @property
    def false_stop_rate(self) -> float:
        return self.false_stops / self.safe if self.safe else float("nan")

    @property
    def recall(self) -> float:
        return self.detected / self.unsafe if self.unsafe else float("nan")

    @property
    def final_recall(self) -> float:
        return self.final_unsafe_of_unsafe / self.unsafe if self.unsafe else float("nan")

    @property
    def final_false_unsafe_rate(self) -> float:
        return self.final_unsafe_of_safe / self.safe if self.safe else float("nan")


def _first_stop(records: Sequence[StreamRecord]) -> StreamVerdict | None:
    for record in records:
        if isinstance(record, StreamVerdict) and not record.final and record.action is StreamAction.STOP:
            return record
    return None


def measure_quality(replies: Sequence[StreamedReply], outputs: StreamOutputs) -> StreamQuality:
    by_stream = outputs.by_stream()
    delays, false_stops = [], 0
    for reply in replies:
        stop = _first_stop(by_stream.get(reply.stream_id, []))
        if reply.harmful_offset is None:
            false_stops += stop is not None
        elif stop is not None:
            delays.append(max(0, stop.chars - reply.harmful_offset))
    unsafe = sum(reply.unsafe for reply in replies)
    final_unsafe = {final.event_id for final in outputs.finals if final.label is VerdictLabel.UNSAFE}
    return StreamQuality(
        unsafe,
        len(delays),
        tuple(delays),
        len(replies) - unsafe,
        false_stops,
        final_unsafe_of_unsafe=sum(r.unsafe and r.stream_id in final_unsafe for r in replies),
        final_unsafe_of_safe=sum(not r.unsafe and r.stream_id in final_unsafe for r in replies),
    )


def contract_problems(replies: Sequence[StreamedReply], outputs: StreamOutputs) -> list[str]:
    """Where the outputs break the contract: every chunk one StreamVerdict, in order; exactly one
    final verdict per stream (and one final StreamVerdict); after a stop only stops, unless a
    StreamRetraction comes first."""
    problems = []
    by_stream = outputs.by_stream()
    finals: dict[str, int] = {}
    for final in outputs.finals:
        finals[final.event_id] = finals.get(final.event_id, 0) + 1
    for reply in replies:
        records = by_stream.get(reply.stream_id, [])
        seqs = [record.seq for record in records if isinstance(record, StreamVerdict)]
        if seqs != list(range(len(reply.chunks))):
            problems.append(f"{reply.stream_id}: stream verdicts for seqs {seqs}, expected 0..{len(reply.chunks) - 1}")
        if finals.get(reply.stream_id, 0) != 1:
            problems.append(f"{reply.stream_id}: {finals.get(reply.stream_id, 0)} final verdicts")
        stopped = False
        for record in records:
            if isinstance(record, StreamRetraction):
                stopped = record.action is StreamAction.STOP
            elif stopped and record.action is not StreamAction.STOP:
                problems.append(f"{reply.stream_id}: seq {record.seq} is {record.action} after a stop, no retraction")
                break
            else:
                stopped = record.action is StreamAction.STOP
    return problems
