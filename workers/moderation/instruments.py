"""The worker's metrics and spans, recorded per batch and per commit, never per poll.

Metrics (Prometheus names in brackets, as /metrics shows them):

- ``guardstream.batch.size`` [guardstream_batch_size]: events per sealed batch (histogram);
- ``guardstream.batches.in_flight``: inference requests out at Triton (gauge);
- ``guardstream.inference.duration`` [.._milliseconds]: Triton round trip per request (histogram);
- ``guardstream.inference.retries``: requests retried, labelled by Triton's status (``unavailable``,
  ``internal``, ``deadline_exceeded``…), or split (``rejected``: the input was refused);
- ``guardstream.end_to_end.duration`` [.._milliseconds]: event creation to durable verdict (histogram);
- ``guardstream.consumer.lag``: per assigned partition, records not yet committed (gauge);
- ``guardstream.verdicts`` [guardstream_verdicts_total]: committed verdicts by ``label``;
- ``guardstream.dlq`` [guardstream_dlq_total]: committed dead letters by ``kind``;
- ``guardstream.duplicates`` [guardstream_duplicates_total]: events whose event_id already had a
  verdict from another source position, committed with no verdict of their own;
- ``guardstream.verdicts.decided`` [guardstream_verdicts_decided_total]: committed verdicts by
  ``decided_by`` (model, blocklist) and ``policy`` (the id of the policy that judged);
- ``guardstream.shadow.decisions`` [guardstream_shadow_decisions_total]: a shadow policy's
  decisions by ``policy`` and ``agrees`` (true when its label equals the acting verdict's);
- ``guardstream.dependency.degraded``: 1 while a dependency is degraded, per ``dependency``.

Spans (only when a tracer is configured): one ``moderate <topic>`` span per event, the child of
its producer's span (the W3C ``traceparent`` header), from consumption until its verdict or dead
letter is committed. The event's outputs then carry this span's context, so readers downstream
continue the same trace; an event that came without a trace starts one here, and the verdict's
``trace_id`` names it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, NoOpMeter, Observation
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    set_span_in_context,
)

from guardstream.telemetry import format_traceparent, parse_traceparent
from workers.moderation.batch import Batch, Consumed
from workers.moderation.health import DEPENDENCIES, Health
from workers.moderation.outputs import BatchOutputs

_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_MS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000)

Lag = Callable[[], dict[tuple[str, int], int]]


class WorkerInstruments:
    def __init__(self, meter: Meter, tracer: Tracer | None = None) -> None:
        self._tracer = tracer
        self._batch_size = meter.create_histogram(
            "guardstream.batch.size",
            unit="{event}",
            description="Events per sealed micro-batch.",
            explicit_bucket_boundaries_advisory=_SIZE_BUCKETS,
        )
        self._inference = meter.create_histogram(
            "guardstream.inference.duration",
            unit="ms",
            description="Triton round trip per inference request.",
            explicit_bucket_boundaries_advisory=_MS_BUCKETS,
        )
        self._retries = meter.create_counter(
            "guardstream.inference.retries",
            unit="{request}",
            description="Inference requests retried (reason: the gRPC status) or split (reason rejected: input refused).",
        )
        self._end_to_end = meter.create_histogram(
            "guardstream.end_to_end.duration",
            unit="ms",
            description="From the event's creation to its durable verdict.",
            explicit_bucket_boundaries_advisory=_MS_BUCKETS,
        )
        self._verdicts = meter.create_counter(
            "guardstream.verdicts", unit="{verdict}", description="Verdicts committed, by label."
        )
        self._dlq = meter.create_counter(
            "guardstream.dlq", unit="{record}", description="Inputs dead-lettered, by kind."
        )
        self._decided = meter.create_counter(
            "guardstream.verdicts.decided",
            unit="{verdict}",
            description="Verdicts committed, by what decided them (model, blocklist) and the policy that judged.",
        )
        self._shadow = meter.create_counter(
            "guardstream.shadow.decisions",
            unit="{decision}",
            description="Decisions of an observe-only policy, by policy and whether they agree with the acting verdict.",
        )
        self._duplicates = meter.create_counter(
            "guardstream.duplicates",
            unit="{event}",
            description="Events whose event_id already had a verdict from another source position: no second verdict.",
        )
        self._meter = meter
        self._spans: dict[int, Span] = {}

    @classmethod
    def disabled(cls) -> WorkerInstruments:
        return cls(NoOpMeter("guardstream"))

    def observe(self, in_flight: Callable[[], int], lag: Lag, health: Health) -> None:
        """Register the gauges read at collection time (on the scraping or exporting thread)."""

        def in_flight_now(_options: CallbackOptions) -> Iterable[Observation]:
            yield Observation(in_flight())

        def lag_now(_options: CallbackOptions) -> Iterable[Observation]:
            for (topic, partition), records in sorted(lag().items()):
                yield Observation(records, {"topic": topic, "partition": partition})

        def degraded_now(_options: CallbackOptions) -> Iterable[Observation]:
            for dependency in DEPENDENCIES:
                yield Observation(int(health.state(dependency) != "ok"), {"dependency": dependency})

        self._meter.create_observable_gauge(
            "guardstream.batches.in_flight",
            [in_flight_now],
            unit="{request}",
            description="Inference requests out at Triton.",
        )
        self._meter.create_observable_gauge(
            "guardstream.consumer.lag",
            [lag_now],
            unit="{record}",
            description="Per assigned partition: last stable offset minus committed offset.",
        )
        self._meter.create_observable_gauge(
            "guardstream.dependency.degraded", [degraded_now], description="1 while the dependency is degraded."
        )

    # ── per batch ────────────────────────────────────────────────────────────────────────────
    def batch_sealed(self, size: int) -> None:
        self._batch_size.record(size)

    def inference_done(self, elapsed_ms: float) -> None:
        self._inference.record(elapsed_ms)

    def inference_retried(self, reason: str) -> None:
        self._retries.add(1, {"reason": reason})

    def batch_finished(self, batch: Batch) -> None:
        """Open each event's span (before the outputs are built: they carry its context)."""
        if self._tracer is None:
            return
        now_monotonic, now_ns = time.monotonic(), time.time_ns()
        for entry in batch.entries:
            parent = parse_traceparent(entry.traceparent) if entry.traceparent else None
            if parent is not None and not parent[2] & 0x01:
                continue  # the producer chose not to sample this trace: parent-based, nothing to record
            # Few attributes: each costs on the hot path and again when the span is encoded.
            attributes: dict[str, Any] = {
                "messaging.destination.partition.id": str(entry.partition),
                "messaging.kafka.offset": entry.offset,
                "guardstream.batch.seq": batch.seq,
                "guardstream.inference_ms": batch.inference_ms,
            }
            if entry.event is not None:
                attributes["guardstream.event_id"] = entry.event.event_id
            span = self._tracer.start_span(
                f"moderate {entry.topic}",
                context=_parent(parent),
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                start_time=now_ns - int((now_monotonic - entry.consumed_at) * 1e9),
            )
            context = span.get_span_context()
            if span.is_recording():
                self._spans[id(entry)] = span
                entry.traceparent = format_traceparent(context.trace_id, context.span_id, True)
            elif entry.traceparent is None and context.is_valid:
                entry.traceparent = format_traceparent(context.trace_id, context.span_id, False)

    # ── per commit ───────────────────────────────────────────────────────────────────────────
    def committed(self, outputs: BatchOutputs) -> None:
        labels = Counter(verdict.label.value for _, _, verdict in outputs.verdicts)
        for label, count in labels.items():
            self._verdicts.add(count, {"label": label})
        kinds = Counter(letter.kind for _, letter in outputs.dead_letters)
        for kind, count in kinds.items():
            self._dlq.add(count, {"kind": kind})
        for _, _, verdict in outputs.verdicts:
            self._end_to_end.record(verdict.end_to_end_ms)
        decided = Counter((str(v.decided_by), str(v.policy_id)) for _, _, v in outputs.verdicts)
        for (decider, policy), count in decided.items():
            self._decided.add(count, {"decided_by": decider, "policy": policy})
        shadows = Counter((d.policy_id, str(not d.disagrees).lower()) for d in outputs.shadows)
        for (policy, agrees), count in shadows.items():
            self._shadow.add(count, {"policy": policy, "agrees": agrees})
        if outputs.duplicates:
            self._duplicates.add(len(outputs.duplicates))
        if self._spans:
            for entry, _, verdict in outputs.verdicts:
                self._end_span(
                    entry, {"guardstream.label": verdict.label.value, "guardstream.p_unsafe": verdict.p_unsafe}
                )
            for entry, letter in outputs.dead_letters:
                self._end_span(entry, {"guardstream.dlq.kind": letter.kind, "guardstream.dlq.reason": letter.reason})
            for entry, duplicate in outputs.duplicates:
                topic, partition, offset = duplicate.first
                self._end_span(entry, {"guardstream.duplicate_of": f"{topic}[{partition}]@{offset}"})

    def abandoned(self) -> None:
        """Uncommitted work was dropped (rebalance): its spans end as errors; it will be redone."""
        for span in self._spans.values():
            span.set_status(Status(StatusCode.ERROR, "abandoned before commit; processed again"))
            span.end()
        self._spans.clear()

    def _end_span(self, entry: Consumed, attributes: dict[str, Any]) -> None:
        span = self._spans.pop(id(entry), None)
        if span is not None:
            span.set_attributes(attributes)
            span.end()


def _parent(parsed: tuple[int, int, int] | None) -> Any:
    """The producer's span as the parent context; None starts a new trace."""
    if parsed is None:
        return None
    trace_id, span_id, flags = parsed
    return set_span_in_context(
        NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 0x01)))
    )
