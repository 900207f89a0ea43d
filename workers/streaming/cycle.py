"""One cycle of the stream worker: the chunks read in one poll become their outputs.

Chunks are grouped by stream (each stream's chunks are in order: one partition, keyed by
stream_id). Duplicates (a seq already processed) are skipped. Then the chunks go to the stream
model in *rounds*: each round sends the next chunk of every stream that has one, so many streams
share a batch while one stream never has two chunks in flight (Triton's sequence batcher wants
them one at a time). Each answer becomes a decision (:func:`guardstream.streaming.decisions.decide`).
A stream whose last chunk arrived gets its final verdict: the whole reply is scored once by the
plain guard, the provisional action is retracted openly where the two disagree
(:func:`~guardstream.streaming.decisions.finish`), and the verdict goes to the audit store and
``moderation.verdicts`` like any event's.

Nothing here touches Kafka or the database: the cycle returns its outputs and the progress it
leaves, and the worker makes them durable in one transaction or throws them away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from guardstream.errors import PoisonInputError
from guardstream.guard.categories import HarmCategory
from guardstream.policy import Policy
from guardstream.records import (
    CategoryScore,
    ChatEvent,
    ChatRole,
    DeadLetter,
    Decider,
    GuardStage,
    Verdict,
    VerdictLabel,
)
from guardstream.streaming.decisions import ChunkScore, Decision, decide, finish
from guardstream.streaming.progress import StreamProgress
from guardstream.streaming.records import ReplyChunk, StreamRetraction, StreamVerdict
from guardstream.streaming.rules import StreamModel
from workers.streaming.stream_client import ChunkAnswer, ChunkRequest


@dataclass(frozen=True, slots=True)
class Read:
    """A record as the consumer delivered it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class WholeScore:
    """The plain guard's verdict on a whole reply."""

    p_unsafe: float
    category: HarmCategory | None
    category_score: float
    model_name: str
    model_version: str


ScoreChunks = Callable[[StreamModel, Sequence[ChunkRequest]], tuple[list[ChunkAnswer], str, str]]
"""Asks the stream model of a kind: the answers, and the model's name and version."""
ScoreWhole = Callable[[StreamModel, Sequence[tuple[str, str]]], list[WholeScore]]
"""Asks the plain guard of a kind for (question, whole reply) pairs."""


@dataclass(slots=True)
class CycleOutputs:
    stream_records: list[StreamVerdict | StreamRetraction] = field(default_factory=list)
    finals: list[tuple[ChatEvent, Verdict]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    progress: dict[tuple[int, str], StreamProgress | None] = field(default_factory=dict)
    """(partition, stream_id) → the stream's progress after the cycle (a finished stream's marker);
    None: forget the stream (a tombstone)."""
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    """The next offset to read, per (topic, partition)."""


@dataclass(frozen=True, slots=True)
class _Pending:
    chunk: ReplyChunk
    read: Read


@dataclass(frozen=True, slots=True)
class _Ending:
    before: StreamProgress
    after: StreamProgress
    decision: Decision
    score: ChunkScore
    pending: _Pending
    model: tuple[str, str]


class Cycle:
    def __init__(
        self,
        policy: Policy,
        decode: Callable[[bytes | None], ReplyChunk],
        score_chunks: ScoreChunks,
        score_whole: ScoreWhole,
        *,
        worker_id: str,
        dlq_payload_max_bytes: int,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._policy = policy
        self._decode = decode
        self._score_chunks = score_chunks
        self._score_whole = score_whole
        self._worker_id = worker_id
        self._dlq_payload_max_bytes = dlq_payload_max_bytes
        self._clock_ms = clock_ms

    def run(self, reads: Sequence[Read], streams: Mapping[str, StreamProgress]) -> CycleOutputs:
        """The outputs of ``reads`` given the open ``streams`` (left unchanged)."""
        out = CycleOutputs()
        queues: dict[str, list[_Pending]] = {}
        for read in reads:
            out.positions[(read.topic, read.partition)] = read.offset + 1
            try:
                chunk = self._decode(read.value)
            except PoisonInputError as poison:
                out.dead_letters.append(self._dead_letter(read, poison))
                continue
            queues.setdefault(chunk.stream_id, []).append(_Pending(chunk, read))
        progress = {stream_id: streams.get(stream_id) for stream_id in queues}
        endings: list[_Ending] = []
        while queues:
            round_ = self._next_round(queues, progress)
            by_model: dict[StreamModel, list[tuple[_Pending, StreamProgress, ChunkRequest]]] = {}
            for pending, before in round_:
                request = ChunkRequest(
                    stream_id=pending.chunk.stream_id,
                    question=before.question,
                    delta=pending.chunk.delta,
                    text_before=before.text,
                    start=before.seq < 0,
                    end=pending.chunk.final,
                )
                by_model.setdefault(self._policy_of(before).streaming.model, []).append((pending, before, request))
            for kind, entries in by_model.items():
                answers, model_name, model_version = self._score_chunks(kind, [request for _, _, request in entries])
                for (pending, before, _), answer in zip(entries, answers, strict=True):
                    score = ChunkScore(answer.p_unsafe, answer.category)
                    after = before.extended(pending.chunk)
                    decided, decision = decide(before, after, score, self._policy_of(before))
                    if pending.chunk.final:
                        endings.append(_Ending(before, decided, decision, score, pending, (model_name, model_version)))
                        progress[pending.chunk.stream_id] = decided.finished(self._clock_ms())
                        continue
                    progress[pending.chunk.stream_id] = decided
                    out.stream_records.append(
                        self._stream_verdict(decided, decision, score, pending, (model_name, model_version))
                    )
                    out.progress[(pending.read.partition, decided.stream_id)] = decided
        self._finish(endings, out)
        return out

    def _next_round(
        self, queues: dict[str, list[_Pending]], progress: dict[str, StreamProgress | None]
    ) -> list[tuple[_Pending, StreamProgress]]:
        """The next chunk of every stream that has one, duplicates dropped."""
        round_ = []
        for stream_id in list(queues):
            waiting = queues[stream_id]
            while waiting:
                pending = waiting.pop(0)
                known = progress[stream_id]
                if known is not None and known.seen(pending.chunk):
                    continue  # a producer's retry, or a replay of what the changelog already holds
                round_.append((pending, known if known is not None else StreamProgress.start(pending.chunk)))
                break
            if not waiting:
                del queues[stream_id]
        return round_

    def _finish(self, endings: list[_Ending], out: CycleOutputs) -> None:
        by_model: dict[StreamModel, list[_Ending]] = {}
        for ending in endings:
            by_model.setdefault(self._policy_of(ending.after).streaming.model, []).append(ending)
        for kind, group in by_model.items():
            wholes = self._score_whole(kind, [(ending.after.question, ending.after.text) for ending in group])
            for ending, whole in zip(group, wholes, strict=True):
                policy = self._policy_of(ending.after)
                label = policy.label(whole.p_unsafe, whole.category)
                finished, retraction = finish(ending.before, ending.after, label)
                now = self._clock_ms()
                read = ending.pending.read
                if retraction is not None:
                    out.stream_records.append(
                        StreamRetraction(
                            stream_id=finished.stream_id,
                            conversation_id=finished.conversation_id,
                            user_id=finished.user_id,
                            retracted_seq=ending.before.seq,
                            retracted_action=retraction.retracted_action,
                            action=retraction.action,
                            reason=retraction.reason,
                            p_unsafe=whole.p_unsafe,
                            retracted_at_ms=now,
                            source_partition=read.partition,
                            source_offset=read.offset,
                        )
                    )
                decision = Decision(
                    ending.decision.label, finished.action, finished.visible_chars, ending.decision.first_unsafe_offset
                )
                out.stream_records.append(
                    self._stream_verdict(finished, decision, ending.score, ending.pending, ending.model)
                )
                out.finals.append(self._final_verdict(finished, kind, whole, label, read, now))
                out.progress[(read.partition, finished.stream_id)] = finished.finished(now)

    def _policy_of(self, progress: StreamProgress) -> Policy:
        return self._policy.select(progress.metadata)

    def _stream_verdict(
        self,
        progress: StreamProgress,
        decision: Decision,
        score: ChunkScore,
        pending: _Pending,
        model: tuple[str, str],
    ) -> StreamVerdict:
        policy = self._policy_of(progress)
        return StreamVerdict(
            stream_id=progress.stream_id,
            conversation_id=progress.conversation_id,
            user_id=progress.user_id,
            seq=pending.chunk.seq,
            label=decision.label,
            p_unsafe=score.p_unsafe,
            category=score.category.value if score.category is not None else None,
            chars=progress.chars,
            first_unsafe_offset=decision.first_unsafe_offset,
            action=decision.action,
            visible_chars=decision.visible_chars,
            final=pending.chunk.final,
            model_name=model[0],
            model_version=model[1],
            policy_id=policy.id,
            policy_version=policy.version,
            decided_at_ms=self._clock_ms(),
            source_partition=pending.read.partition,
            source_offset=pending.read.offset,
        )

    def _final_verdict(
        self, progress: StreamProgress, kind: StreamModel, whole: WholeScore, label: VerdictLabel, read: Read, now: int
    ) -> tuple[ChatEvent, Verdict]:
        policy = self._policy_of(progress)
        event = ChatEvent(
            event_id=progress.stream_id,
            conversation_id=progress.conversation_id,
            user_id=progress.user_id,
            role=ChatRole.ASSISTANT,
            text=progress.text,
            question=progress.question,
            created_at_ms=progress.started_at_ms,
            metadata=dict(progress.metadata),
        )
        fast = kind is StreamModel.FAST
        verdict = Verdict(
            event_id=progress.stream_id,
            conversation_id=progress.conversation_id,
            user_id=progress.user_id,
            label=label,
            p_unsafe=whole.p_unsafe,
            categories=(CategoryScore(category=whole.category.value, score=whole.category_score),)
            if whole.category
            else (),
            model_name=whole.model_name,
            model_version=whole.model_version,
            policy_version=policy.version,
            event_created_at_ms=progress.started_at_ms,
            verdict_at_ms=now,
            queue_ms=0.0,
            inference_ms=0.0,
            end_to_end_ms=float(max(0, now - progress.started_at_ms)),
            source_topic=read.topic,
            source_partition=read.partition,
            source_offset=read.offset,
            stage=GuardStage.FAST if fast else GuardStage.GENERATIVE,
            p_unsafe_fast=whole.p_unsafe if fast else None,
            p_unsafe_generative=None if fast else whole.p_unsafe,
            policy_id=policy.id,
            decided_by=Decider.MODEL,
        )
        return event, verdict

    def _dead_letter(self, read: Read, poison: PoisonInputError) -> DeadLetter:
        return DeadLetter.refused(
            (read.topic, read.partition, read.offset),
            read.key,
            read.value or b"",
            poison.kind,
            poison.reason,
            max_payload_bytes=self._dlq_payload_max_bytes,
            failed_at_ms=self._clock_ms(),
            worker_id=self._worker_id,
        )
