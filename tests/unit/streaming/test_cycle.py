"""One cycle of the stream worker, with the models answered in memory."""

from __future__ import annotations

from collections.abc import Sequence

from guardstream.errors import PoisonInputError
from guardstream.policy import Policy
from guardstream.records import VerdictLabel
from guardstream.serde.codec import decode_record, encode_record
from guardstream.streaming.progress import StreamProgress
from guardstream.streaming.records import ReplyChunk, StreamAction, StreamRetraction, StreamVerdict
from guardstream.streaming.rules import StreamingRules, StreamModel
from workers.streaming.cycle import Cycle, Read, WholeScore
from workers.streaming.stream_client import ChunkAnswer, ChunkRequest

POLICY = Policy("v1", 0.5, 0.3, streaming=StreamingRules(debounce_chunks=2, hold_back_chars=0))
TOPIC = "moderation.reply-chunks"


class Models:
    """Unsafe where the reply so far holds 毒; records every round it was asked."""

    def __init__(self, whole: float = 0.0) -> None:
        self.rounds: list[list[ChunkRequest]] = []
        self.whole = whole

    def score_chunks(self, kind: StreamModel, requests: Sequence[ChunkRequest]) -> tuple[list[ChunkAnswer], str, str]:
        self.rounds.append(list(requests))
        answers = [ChunkAnswer(0.9 if "毒" in r.text_before + r.delta else 0.1, None, False) for r in requests]
        return answers, "guard_fast_stream", "1"

    def score_whole(self, kind: StreamModel, pairs: Sequence[tuple[str, str]]) -> list[WholeScore]:
        return [WholeScore(self.whole, None, 0.0, "guard_fast", "1") for _ in pairs]


def read(offset: int, stream: str, seq: int, delta: str, final: bool = False, partition: int = 0) -> Read:
    chunk = ReplyChunk(
        stream_id=stream, conversation_id="c", user_id="u", question="问", seq=seq, delta=delta, final=final,
        created_at_ms=1_000,
    )  # fmt: skip
    return Read(TOPIC, partition, offset, stream.encode(), encode_record(chunk))


def cycle(models: Models) -> Cycle:
    def decode(payload: bytes | None) -> ReplyChunk:
        if payload == b"junk":
            raise PoisonInputError("malformed_avro", "not avro")
        return decode_record(ReplyChunk, payload or b"")

    return Cycle(POLICY, decode, models.score_chunks, models.score_whole, worker_id="w", dlq_payload_max_bytes=100)


def verdicts(outputs: list[StreamVerdict | StreamRetraction]) -> list[tuple[str, int, StreamAction]]:
    return [(r.stream_id, r.seq, r.action) for r in outputs if isinstance(r, StreamVerdict)]


def test_each_round_sends_one_chunk_per_stream_in_order() -> None:
    models = Models()
    reads = [read(0, "a", 0, "你好"), read(1, "b", 0, "嗨"), read(2, "a", 1, "世界"), read(3, "a", 2, "！")]
    out = cycle(models).run(reads, {})
    assert [[(r.stream_id, r.delta, r.start) for r in round_] for round_ in models.rounds] == [
        [("a", "你好", True), ("b", "嗨", True)],
        [("a", "世界", False)],
        [("a", "！", False)],
    ]
    assert models.rounds[2][0].text_before == "你好世界"
    assert out.positions == {(TOPIC, 0): 4}
    progress = out.progress[(0, "a")]
    assert progress is not None and progress.text == "你好世界！"


def test_duplicates_and_chunks_the_progress_holds_are_skipped() -> None:
    models = Models()
    first = cycle(models).run([read(0, "a", 0, "一"), read(1, "a", 1, "二")], {})
    progress = {"a": first.progress[(0, "a")]}
    assert progress["a"] is not None
    again = cycle(models).run([read(1, "a", 1, "二"), read(2, "a", 1, "二"), read(3, "a", 2, "三")], progress)  # type: ignore[arg-type]
    assert verdicts(again.stream_records) == [("a", 2, StreamAction.CONTINUE)]
    assert again.progress[(0, "a")].text == "一二三"  # type: ignore[union-attr]


def test_a_stop_is_followed_by_a_final_verdict_and_a_marker() -> None:
    models = Models(whole=0.95)
    reads = [read(0, "a", 0, "好"), read(1, "a", 1, "毒"), read(2, "a", 2, "药"), read(3, "a", 3, "", final=True)]
    out = cycle(models).run(reads, {})
    assert verdicts(out.stream_records) == [
        ("a", 0, StreamAction.CONTINUE),
        ("a", 1, StreamAction.HOLD),
        ("a", 2, StreamAction.STOP),
        ("a", 3, StreamAction.STOP),
    ]
    assert not any(isinstance(r, StreamRetraction) for r in out.stream_records)
    marker = out.progress[(0, "a")]
    assert marker is not None and marker.finished_at_ms is not None and marker.text == ""
    [(event, verdict)] = out.finals
    assert (event.event_id, event.text, event.question) == ("a", "好毒药", "问")
    assert verdict.label is VerdictLabel.UNSAFE and verdict.source_offset == 3


def test_a_stop_the_whole_reply_contradicts_is_retracted_before_the_final_verdict() -> None:
    models = Models(whole=0.05)
    reads = [read(0, "a", 0, "毒"), read(1, "a", 1, "药"), read(2, "a", 2, "是小说", final=True)]
    out = cycle(models).run(reads, {})
    kinds = [type(r).__name__ for r in out.stream_records]
    assert kinds == ["StreamVerdict", "StreamVerdict", "StreamRetraction", "StreamVerdict"]
    retraction = out.stream_records[2]
    assert isinstance(retraction, StreamRetraction)
    assert (retraction.retracted_seq, retraction.retracted_action, retraction.action) == (
        1,
        StreamAction.STOP,
        StreamAction.CONTINUE,
    )
    final = out.stream_records[3]
    assert isinstance(final, StreamVerdict) and final.final and final.action is StreamAction.CONTINUE
    assert final.visible_chars == len("毒药是小说")
    assert out.finals[0][1].label is VerdictLabel.SAFE


def test_a_stream_restored_from_the_changelog_goes_on_where_it_stood() -> None:
    start = StreamProgress(
        stream_id="a", conversation_id="c", user_id="u", question="问", started_at_ms=5, seq=4, text="前文"
    )
    models = Models()
    out = cycle(models).run([read(9, "a", 5, "续")], {"a": start})
    [[request]] = models.rounds
    assert (request.start, request.text_before, request.question) == (False, "前文", "问")
    assert out.progress[(0, "a")].text == "前文续"  # type: ignore[union-attr]


def test_poison_goes_to_the_dead_letters_and_its_offset_moves_on() -> None:
    out = cycle(Models()).run([Read(TOPIC, 1, 7, b"k", b"junk")], {})
    [letter] = out.dead_letters
    assert (letter.kind, letter.source_offset, letter.payload) == ("malformed_avro", 7, b"junk")
    assert out.positions == {(TOPIC, 1): 8}


def test_chunks_after_the_final_one_are_duplicates_in_the_same_cycle_and_later() -> None:
    models = Models()
    first = cycle(models).run([read(0, "a", 0, "好", final=True), read(1, "a", 0, "好", final=True)], {})
    assert len(first.finals) == 1 and len(models.rounds) == 1
    marker = first.progress[(0, "a")]
    assert marker is not None
    later = cycle(models).run([read(2, "a", 1, "迟到")], {"a": marker})
    assert (later.stream_records, later.finals, later.progress) == ([], [], {})
    assert later.positions == {(TOPIC, 0): 3}
