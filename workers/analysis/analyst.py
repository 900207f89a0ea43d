"""Turn flagged verdicts into analyses: explain mode over the judged (question, response) pairs.

The text to explain is read back from the audit store (the verdict row is written before the
flagged record commits, so a ``read_committed`` reader always finds it). An analysis already
recorded for an event (by an attempt that crashed before its Kafka transaction committed) is
reused, so the audit store and the topic always hold the same text. Requests the model rejects
are split in halves until the item at fault is alone; it gets an ``unavailable`` analysis that
says why. Unavailable dependencies raise :class:`RetriableError`: the caller retries the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from guardstream.errors import PermanentError
from guardstream.guard.verdict_parsing import parse_guard_output
from guardstream.records import Analysis, AnalysisStatus, ChatEvent, Verdict

_QUOTED_OUTPUT_CHARS = 300


class ExplainClient(Protocol):
    """What the analyst needs of :class:`workers.triton_client.GuardModelClient`."""

    def explain(self, pairs: Sequence[tuple[str, str]]) -> list[str]: ...

    def version(self) -> str: ...

    def close(self) -> None: ...


class AnalysisAudit(Protocol):
    """What the analyst reads from :class:`guardstream.audit.store.AuditStore`."""

    def judged_events(self, event_ids: Sequence[str]) -> dict[str, ChatEvent]: ...

    def analyses(self, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class FlaggedSource:
    """Where a flagged verdict was read: the analysis records it as its source."""

    topic: str
    partition: int
    offset: int


class Analyst:
    def __init__(
        self,
        client: ExplainClient,
        audit: AnalysisAudit,
        model_name: str,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._client = client
        self._audit = audit
        self._model_name = model_name
        self._clock_ms = clock_ms

    def analyse(self, flagged: Sequence[tuple[FlaggedSource, Verdict]]) -> list[Analysis]:
        """One analysis per flagged verdict, in order; RetriableError while a dependency is down."""
        ids = [verdict.event_id for _, verdict in flagged]
        recorded = self._audit.analyses(ids)
        events = self._audit.judged_events([event_id for event_id in ids if event_id not in recorded])
        asked = list(dict.fromkeys(event_id for event_id in ids if event_id in events))
        started = time.perf_counter()
        outputs = dict(zip(asked, self._explain([events[event_id].guard_pair() for event_id in asked]), strict=True))
        explain_ms = (time.perf_counter() - started) * 1000.0 if asked else 0.0
        version = self._client.version() if asked else ""
        now_ms = self._clock_ms()
        analyses = []
        for source, verdict in flagged:
            row = recorded.get(verdict.event_id)
            if row is not None:
                analyses.append(_analysis(source, verdict, **_recorded_fields(row)))
                continue
            stamp = {"model_name": self._model_name, "analysed_at_ms": now_ms}
            output = outputs.get(verdict.event_id)
            if output is None:
                fields = _unavailable("no verdict row for this event in the audit store", version, explain_ms)
            elif isinstance(output, PermanentError):
                fields = _unavailable(str(output), version, explain_ms)
            else:
                fields = _explained(output, version, explain_ms)
            analyses.append(_analysis(source, verdict, **stamp, **fields))
        return analyses

    def close(self) -> None:
        self._client.close()

    def _explain(self, pairs: list[tuple[str, str]]) -> list[str | PermanentError]:
        """The model's output per pair; a rejected request is split until the rejected pair is alone."""
        if not pairs:
            return []
        try:
            return list(self._client.explain(pairs))
        except PermanentError as rejected:
            if len(pairs) == 1:
                return [rejected]
            middle = len(pairs) // 2
            return self._explain(pairs[:middle]) + self._explain(pairs[middle:])


def _explained(output: str, version: str, explain_ms: float) -> dict[str, Any]:
    # PostgreSQL text cannot hold NUL; a generated answer is no reason to lose the analysis.
    parsed = parse_guard_output(output.replace("\x00", ""))
    label = parsed.label.value
    category = parsed.category.value if parsed.category else None
    if parsed.analysis is None:
        reason = f"the model's answer contains no analysis (it wrote: {output[:_QUOTED_OUTPUT_CHARS]!r})"
        return {**_unavailable(reason, version, explain_ms), "explain_label": label, "category": category}
    return {
        "status": AnalysisStatus.EXPLAINED, "analysis": parsed.analysis, "explain_label": label,
        "category": category, "reason": None, "model_version": version, "explain_ms": explain_ms,
    }  # fmt: skip


def _unavailable(reason: str, version: str, explain_ms: float) -> dict[str, Any]:
    return {
        "status": AnalysisStatus.UNAVAILABLE, "analysis": None, "explain_label": None, "category": None,
        "reason": reason.replace("\x00", ""), "model_version": version, "explain_ms": explain_ms,
    }  # fmt: skip


def _recorded_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": AnalysisStatus(row["status"]), "analysis": row["analysis"], "explain_label": row["explain_label"],
        "category": row["category"], "reason": row["reason"], "model_name": row["model_name"],
        "model_version": row["model_version"], "analysed_at_ms": row["analysed_at_ms"], "explain_ms": row["explain_ms"],
    }  # fmt: skip


def _analysis(source: FlaggedSource, verdict: Verdict, **fields: Any) -> Analysis:
    return Analysis(
        event_id=verdict.event_id,
        conversation_id=verdict.conversation_id,
        user_id=verdict.user_id,
        verdict_label=verdict.label.value,
        verdict_at_ms=verdict.verdict_at_ms,
        trace_id=verdict.trace_id,
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
        **fields,
    )
