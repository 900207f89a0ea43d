"""One benchmark run: every phase against the same stack and model, then the figures.

Phases, in order (each on topics and a consumer group of its own):

1. ``triton_direct`` — sweep batch size × concurrency on the score model; keep the best point;
2. ``modes`` — the explain model on the same items (score ÷ explain throughput);
3. ``naive`` — one synchronous Triton call per message between a consumer and a producer;
4. ``pipeline`` — real workers drain a backlog, batched at the best point of the sweep;
   then the fast guard alone and the guard cascade the same way (:mod:`devtools.bench.cascade`);
5. ``overhead`` — the same with the constant-output model (the pipeline's own cost);
6. ``latency`` — workers under fixed offered rates; p50/p95/p99 produce → verdict at each;
7. ``streams`` — streamed replies through a stream worker, and a chunk's cost at a long and a short
   prefix (:mod:`devtools.bench.streams`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devtools.bench.audit_db import audit_database
from devtools.bench.cascade import CascadeResults, run_cascade
from devtools.bench.config import BenchConfig
from devtools.bench.direct import SweepPoint, best_point, measure, sweep, sweep_grid
from devtools.bench.figures import Figure
from devtools.bench.kafka_io import create_topics, delete_topics
from devtools.bench.load import LoadGenerator, chat_events
from devtools.bench.naive import run_naive
from devtools.bench.pipeline import (
    LatencyLevel,
    PipelineConfig,
    drain_at_shapes,
    pipeline_shapes,
    run_backlog,
    run_latency,
)
from devtools.bench.stats import percentile, ratio
from devtools.bench.streams import StreamBenchResults, run_streams
from guardstream.guard.backend_settings import OUTPUT_P_UNSAFE, OUTPUT_VERDICT_JSON
from guardstream.records import ChatEvent
from guardstream.settings import Settings
from workers.kafka_clients import build_producer
from workers.triton_client import build_grpc_client, ensure_loaded

log = logging.getLogger(__name__)

CONSTANT_MODEL = "guard_constant"
TARGET_SHARE = 0.7


@dataclass(slots=True)
class BenchResults:
    machine: dict[str, Any]
    config: dict[str, Any]
    sweep: list[SweepPoint] = field(default_factory=list)
    best: SweepPoint | None = None
    best_again: SweepPoint | None = None
    """The best point measured again right after the pipeline phase (the two bracket it in time)."""
    explain_eps: float = math.nan
    modes_rounds: list[tuple[float, float]] = field(default_factory=list)
    """(score items/s, explain items/s) per interleaved round."""
    naive_eps: float = math.nan
    pipeline: dict[str, Any] = field(default_factory=dict)
    cascade: CascadeResults | None = None
    """The fast guard and the cascade in the pipeline; None when no fast guard is configured."""
    overhead: dict[str, Any] = field(default_factory=dict)
    constant_direct_eps: float = math.nan
    latency: list[dict[str, Any]] = field(default_factory=list)
    streams: StreamBenchResults | None = None
    figures: list[Figure] = field(default_factory=list)

    @property
    def direct_eps(self) -> float:
        """Triton-direct throughput: the mean of the best point before and after the pipeline phase."""
        measured = [p.items_per_s for p in (self.best, self.best_again) if p is not None]
        return sum(measured) / len(measured) if measured else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "config": self.config,
            "triton_direct": {
                "sweep": [asdict(p) for p in self.sweep],
                "best": asdict(self.best) if self.best else None,
                "best_again": asdict(self.best_again) if self.best_again else None,
                "eps": self.direct_eps,
            },
            "explain_eps": self.explain_eps,
            "modes_rounds": [list(pair) for pair in self.modes_rounds],
            "naive_eps": self.naive_eps,
            "pipeline": self.pipeline,
            "cascade": self.cascade.as_dict() if self.cascade else None,
            "overhead": self.overhead,
            "constant_direct_eps": self.constant_direct_eps,
            "latency": self.latency,
            "streams": self.streams.as_dict() if self.streams else None,
            "figures": [f.as_dict() for f in self.figures],
        }


def max_batch_size(settings: Settings, model: str) -> int:
    client = build_grpc_client(settings.triton)
    try:
        return int(client.get_model_config(model, as_json=True)["config"].get("max_batch_size", 0))
    finally:
        client.close()


def run_bench(
    settings: Settings,
    audit_base_url: str,
    work_dir: Path,
    config: BenchConfig,
    machine: dict[str, Any],
    say: Callable[[str], None] = lambda _line: None,
) -> BenchResults:
    results = BenchResults(machine=machine, config=asdict(config))
    work_dir.mkdir(parents=True, exist_ok=True)
    log_dir = work_dir / "logs"
    pool = chat_events(config.pool_size, config.seed)
    pairs = [event.guard_pair() for event in pool]
    triton = settings.triton
    # the dev stack may start Triton with only some of its models (GUARDSTREAM_DEV_TRITON_MODELS)
    ensure_loaded(triton, [CONSTANT_MODEL])

    say("triton_direct: sweeping batch size × concurrency on the score model")
    grid = sweep_grid(config.sweep_batches, config.sweep_concurrency, max_batch_size(settings, triton.model_name))
    results.sweep = sweep(triton, triton.model_name, OUTPUT_P_UNSAFE, pairs, grid, config.sweep_seconds)
    best = results.best = best_point(results.sweep)
    say(f"  best: batch {best.batch} × {best.concurrency} in flight → {best.items_per_s:,.0f} items/s")

    say("modes: score and explain models on the same items, interleaved")
    explain_batch = min(config.explain_batch, max_batch_size(settings, triton.explain_model_name))
    for _ in range(config.modes_rounds):
        score = measure(
            triton, triton.model_name, OUTPUT_P_UNSAFE, pairs, best.batch, best.concurrency, config.sweep_seconds
        )
        explain = measure(
            triton,
            triton.explain_model_name,
            OUTPUT_VERDICT_JSON,
            pairs,
            explain_batch,
            2,
            config.explain_seconds,
            0.0,
            4,
        )
        results.modes_rounds.append((score.items_per_s, explain.items_per_s))
    results.explain_eps = percentile([e for _, e in results.modes_rounds], 50)
    say(f"  score ÷ explain per round: {', '.join(f'{s:,.0f}/{e:,.1f}' for s, e in results.modes_rounds)}")

    say("naive: one synchronous Triton call per message")
    results.naive_eps = _naive(settings, pool, config, best.items_per_s)
    say(f"  naive: {results.naive_eps:,.1f} events/s")

    with audit_database(audit_base_url, work_dir) as audit_url:
        say("pipeline: workers drain a backlog (score model), at the best direct point and at the largest batch")
        events = max(config.pipeline_min_events, int(best.items_per_s * config.pipeline_seconds))
        trials = drain_at_shapes(
            settings,
            PipelineConfig(model_name=triton.model_name, batch_max_wait_ms=config.batch_max_wait_ms),
            pipeline_shapes(best, grid),
            pool,
            events,
            audit_url,
            log_dir,
            "pipeline",
            config.phase_timeout_s,
            say,
        )
        pipeline_config, run = trials.best
        results.pipeline = trials.as_dict()
        say(f"  pipeline: {run.rate:,.0f} events/s (best of {len(trials.tried)})")
        results.best_again = measure(
            triton, triton.model_name, OUTPUT_P_UNSAFE, pairs, best.batch, best.concurrency, config.sweep_seconds
        )
        say(f"  triton_direct again at the best point: {results.best_again.items_per_s:,.0f} items/s")

        if triton.fast_model_name:
            both = min(max_batch_size(settings, triton.fast_model_name), max_batch_size(settings, triton.model_name))
            results.cascade = run_cascade(settings, config, pool, both, audit_url, work_dir, log_dir, say)
        else:
            say("fast and cascade: skipped (no fast guard configured: GUARDSTREAM_TRITON__FAST_MODEL_NAME is empty)")

        say("overhead: workers drain a backlog with the constant model")
        results.constant_direct_eps = measure(
            triton, CONSTANT_MODEL, OUTPUT_P_UNSAFE, pairs, config.overhead_batch, 2, config.sweep_seconds
        ).items_per_s
        workers = config.overhead_workers or (1 if audit_url.startswith("sqlite") else 2)
        overhead_config = PipelineConfig(
            model_name=CONSTANT_MODEL,
            workers=workers,
            batch_max_size=config.overhead_batch,
            max_in_flight=4,
            batch_max_wait_ms=config.batch_max_wait_ms,
        )
        constant = run_backlog(
            settings,
            overhead_config,
            pool,
            config.overhead_events,
            audit_url,
            log_dir,
            "overhead",
            config.phase_timeout_s,
        )
        results.overhead = {
            "config": asdict(overhead_config),
            "events": config.overhead_events,
            "verdicts": len(constant.samples),
            "eps": constant.rate,
            "loadgen_eps": constant.load.rate,
        }
        say(f"  overhead: {constant.rate:,.0f} events/s ({len(constant.samples)}/{config.overhead_events} verdicts)")

        peak = run.rate if run.rate > 0 else best.items_per_s
        rates = [round(share * peak, 1) for share in config.latency_shares]
        say(f"latency: offered rates {', '.join(f'{r:,.0f}/s' for r in rates)}")
        levels = run_latency(
            settings,
            pipeline_config,
            pool,
            rates,
            config.latency_seconds,
            audit_url,
            log_dir,
            "latency",
            config.phase_timeout_s,
        )
        results.latency = [
            _level_dict(share, level) for share, level in zip(config.latency_shares, levels, strict=True)
        ]
        for row in results.latency:
            say(f"  {row['offered_rate']:,.0f}/s: p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms")

        say("streams: streamed replies through a stream worker; a chunk's cost at a long and a short prefix")
        ensure_loaded(triton, [settings.streams.fast_model_name, settings.streams.generative_model_name])
        results.streams = run_streams(
            settings,
            config.stream_replies,
            config.stream_open,
            config.stream_cost_chunks,
            config.seed,
            audit_url,
            log_dir,
            config.phase_timeout_s,
            say,
        )

    results.figures = figures(results, pipeline_config.batch_max_wait_ms)
    return results


def _naive(settings: Settings, pool: list[ChatEvent], config: BenchConfig, direct_rate: float) -> float:
    topics = create_topics(settings.kafka, f"bench.naive.{int(time.time() * 1000)}")
    try:
        generator = LoadGenerator(build_producer(settings.kafka), topics.chat_events, pool, "naive")
        # more than it can read in its time, so it never runs dry
        generator.produce(max(200, int(direct_rate * config.naive_seconds)), None, "backlog")
        report = run_naive(settings, topics, config.naive_seconds)
    finally:
        delete_topics(settings.kafka, topics)
    return report.rate


def _level_dict(share: float, level: LatencyLevel) -> dict[str, Any]:
    summary = level.summary()
    return {
        "share_of_peak": share,
        "offered_rate": level.offered_rate,
        "produced": level.load.produced,
        "produced_rate": level.load.rate,
        "verdicts": len(level.samples),
        "p50_ms": summary["p50"],
        "p95_ms": summary["p95"],
        "p99_ms": summary["p99"],
        "max_ms": summary["max"],
        "median_batch_inference_ms": level.median_batch_inference_ms,
    }


def target_level(latency: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The level offered at (closest to) 70 % of the pipeline's peak."""
    if not latency:
        return None
    return min(latency, key=lambda row: abs(row["share_of_peak"] - TARGET_SHARE))


def figures(results: BenchResults, batch_max_wait_ms: float) -> list[Figure]:
    direct = results.direct_eps
    pipeline = results.pipeline.get("eps", math.nan)
    overhead = results.overhead.get("eps", math.nan)
    if results.modes_rounds:
        score = percentile([s for s, _ in results.modes_rounds], 50)
        modes_ratio = percentile([ratio(s, e) for s, e in results.modes_rounds], 50)
    else:
        score = results.best.items_per_s if results.best else math.nan
        modes_ratio = ratio(score, results.explain_eps)
    level = target_level(results.latency)
    p99 = level["p99_ms"] if level else math.nan
    bound = batch_max_wait_ms + 3 * level["median_batch_inference_ms"] if level else math.nan
    return [
        Figure("triton_direct_eps", direct, "items/s", note="best sweep point, mean of before and after the pipeline"),
        Figure("pipeline_eps", pipeline, "events/s", note="workers end to end, same model"),
        Figure("naive_eps", results.naive_eps, "events/s", note="one synchronous call per message"),
        Figure("efficiency", ratio(pipeline, direct), "ratio", 0.9, note="pipeline ÷ triton_direct"),
        Figure("vs_naive", ratio(pipeline, results.naive_eps), "ratio", 10.0, note="pipeline ÷ naive"),
        Figure("overhead_eps", overhead, "events/s", 15000.0, note="pipeline with the constant model"),
        Figure("constant_direct_eps", results.constant_direct_eps, "items/s", note="constant model, Triton alone"),
        Figure("score_eps", score, "items/s", note="score mode at the best point, median of rounds"),
        Figure("explain_eps", results.explain_eps, "items/s", note="explain mode, same items, median of rounds"),
        Figure("modes_ratio", modes_ratio, "ratio", 10.0, note="score ÷ explain, median of interleaved rounds"),
        Figure("p50_ms", level["p50_ms"] if level else math.nan, "ms", note="produce → verdict at 70% of peak"),
        Figure("p95_ms", level["p95_ms"] if level else math.nan, "ms", note="produce → verdict at 70% of peak"),
        Figure("p99_ms", p99, "ms", bound, goal="at_most", note="produce → verdict at 70% of peak"),
        Figure("p99_bound_ms", bound, "ms", note="max batch wait + 3 × median batch inference"),
        *cascade_figures(results.cascade),
        *stream_figures(results.streams),
    ]


def stream_figures(streams: StreamBenchResults | None) -> list[Figure]:
    """The streaming phase's figures (NaN when it did not run)."""
    nan = math.nan
    quality = streams.quality if streams else None
    kind = streams.policy_kind if streams else ""
    others = [other for other in (streams.cost_ms if streams else {}) if other != kind]
    return [
        Figure(
            "stream_chunks_per_s",
            streams.chunks_per_s if streams else nan,
            "chunks/s",
            note="one stream worker, first chunk produced → last final verdict committed",
        ),
        Figure(
            "stream_detect_delay_chars_p50",
            quality.delay_p50 if quality else nan,
            "chars",
            note="unsafe replies stopped: characters received past the harmful span's start",
        ),
        Figure("stream_detect_delay_chars_p95", quality.delay_p95 if quality else nan, "chars", note="as p50"),
        Figure(
            "stream_recall",
            quality.recall if quality else nan,
            "ratio",
            note="unsafe replies stopped by a provisional decision",
        ),
        Figure(
            "stream_final_recall",
            quality.final_recall if quality else nan,
            "ratio",
            note="unsafe replies whose final verdict (the whole reply, plain guard) is unsafe",
        ),
        Figure(
            "stream_final_false_unsafe_rate",
            quality.final_false_unsafe_rate if quality else nan,
            "ratio",
            note="safe replies whose final verdict is unsafe (a retraction stops them at the end)",
        ),
        Figure(
            "stream_false_stop_rate",
            quality.false_stop_rate if quality else nan,
            "ratio",
            0.02,
            goal="at_most",
            note="safe replies (many on sensitive subjects) stopped by a provisional decision",
        ),
        Figure(
            "stream_cost_ratio_long_short",
            streams.cost_ratio(kind) if streams else nan,
            "ratio",
            1.5,
            goal="at_most",
            note=f"the policy's stream model ({kind or 'none'}): ms per chunk after 2,000 chars ÷ after 200",
        ),
        *(
            Figure(
                f"stream_cost_ratio_long_short_{other}",
                streams.cost_ratio(other) if streams else nan,
                "ratio",
                1.5,
                goal="at_most",
                note=f"the {other} stream model: ms per chunk after 2,000 chars ÷ after 200",
            )
            for other in others
        ),
        Figure(
            "stream_contract_breaches",
            float(len(streams.problems)) if streams else nan,
            "count",
            0.0,
            goal="at_most",
            note="streams whose outputs break the contract (order, one final, no silent change)",
        ),
    ]


def cascade_figures(cascade: CascadeResults | None) -> list[Figure]:
    """The fast guard and the cascade in the pipeline (NaN when no fast guard is configured)."""
    band = f"[{cascade.band[0]:.3f}, {cascade.band[1]:.3f})" if cascade else "none"
    return [
        Figure(
            "fast_direct_eps",
            cascade.direct_eps if cascade else math.nan,
            "items/s",
            note="fast guard, Triton alone, best batch size with 2 in flight",
        ),
        Figure(
            "fast_eps",
            cascade.fast.eps if cascade else math.nan,
            "events/s",
            note="workers end to end, fast guard alone (the cascade escalating nothing)",
        ),
        Figure(
            "cascade_eps",
            cascade.cascade.eps if cascade else math.nan,
            "events/s",
            note=f"workers end to end, the cascade escalating fast-guard scores in {band}",
        ),
        Figure(
            "escalated_fraction",
            cascade.escalated_fraction if cascade else math.nan,
            "ratio",
            note="share of the cascade's verdicts the generative guard decided (their stage)",
        ),
    ]
