"""Our pipeline end to end: real ``guardstream worker`` processes between Kafka topics of their own.

Throughput: a backlog is produced first, then the workers drain it; the rate is taken from the
verdicts' own ``verdict_at_ms`` (trimmed at both ends, see :func:`~devtools.bench.stats.steady_rate`),
so start-up and the benchmark's reading cost nothing. Latency: workers run while events are
produced at fixed rates, one level after the other; each verdict's ``end_to_end_ms`` is
produce → verdict.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from devtools.bench.direct import SweepPoint
from devtools.bench.kafka_io import VerdictSample, create_topics, delete_topics, read_verdicts, wait_caught_up
from devtools.bench.load import LoadGenerator, LoadReport
from devtools.bench.stats import latency_summary, median_batch_ms, steady_rate
from devtools.demo.replay import WorkerProcess, worker_environment
from guardstream.records import ChatEvent, GuardStage
from guardstream.settings import Settings, TopicSettings
from workers.kafka_clients import build_producer, build_settings_admin_client


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """How the workers run: which model or cascade, how many processes, their batching."""

    model_name: str = "guard"
    fast_model_name: str = ""
    """The cascade's fast guard; empty: no cascade, ``model_name`` scores every event."""
    escalate_band: tuple[float, float] | None = None
    """Overrides the policy's global uncertain band (escalated to ``model_name``); none: the policy's."""
    policy_file: str = ""
    """The workers' policy file; empty: the one configured (the cascade phases name one without bands)."""
    workers: int = 1
    batch_max_size: int = 64
    batch_max_wait_ms: float = 20.0
    max_in_flight: int = 4
    commit_interval_ms: float = 100.0

    def environment(self, settings: Settings, topics: TopicSettings, audit_url: str, group: str) -> dict[str, str]:
        return {
            **worker_environment(settings, topics, audit_url, group),
            "GUARDSTREAM_TRITON__MODEL_NAME": self.model_name,
            # both set either way, so a cascade configured in the caller's environment never leaks in
            "GUARDSTREAM_TRITON__FAST_MODEL_NAME": self.fast_model_name,
            "GUARDSTREAM_POLICY__ESCALATE_BAND": json.dumps(list(self.escalate_band) if self.escalate_band else None),
            **({"GUARDSTREAM_POLICY__FILE": self.policy_file} if self.policy_file else {}),
            "GUARDSTREAM_WORKER__BATCH_MAX_SIZE": str(self.batch_max_size),
            "GUARDSTREAM_WORKER__BATCH_MAX_WAIT_MS": str(self.batch_max_wait_ms),
            "GUARDSTREAM_WORKER__MAX_IN_FLIGHT": str(self.max_in_flight),
            "GUARDSTREAM_WORKER__COMMIT_INTERVAL_MS": str(self.commit_interval_ms),
            "GUARDSTREAM_TELEMETRY__METRICS_PORT": "0",
        }


@dataclass(slots=True)
class PipelineRun:
    produced: int
    load: LoadReport
    samples: list[VerdictSample]

    @property
    def rate(self) -> float:
        return steady_rate([s.verdict_at_ms for s in self.samples])

    @property
    def median_batch_inference_ms(self) -> float:
        return median_batch_ms(((s.verdict_at_ms, s.inference_ms), s.inference_ms) for s in self.samples)

    def stages(self) -> dict[str, int]:
        """Verdicts per deciding cascade stage; ``none``: one model judged alone."""
        counts = Counter(s.stage.value if s.stage else "none" for s in self.samples)
        return {name: counts[name] for name in ("none", *(stage.value for stage in GuardStage))}


@dataclass(slots=True)
class LatencyLevel:
    offered_rate: float
    load: LoadReport
    samples: list[VerdictSample] = field(default_factory=list)

    @property
    def achieved_rate(self) -> float:
        return len(self.samples) / self.load.seconds if self.load.seconds > 0 else 0.0

    def summary(self) -> dict[str, float]:
        return latency_summary([s.end_to_end_ms for s in self.samples])

    @property
    def median_batch_inference_ms(self) -> float:
        return median_batch_ms(((s.verdict_at_ms, s.inference_ms), s.inference_ms) for s in self.samples)


@dataclass(slots=True)
class BacklogTrials:
    """One backlog drained at each of a few worker shapes; the fastest is the phase's figure."""

    events: int
    tried: list[tuple[PipelineConfig, PipelineRun]]

    @property
    def best(self) -> tuple[PipelineConfig, PipelineRun]:
        return max(self.tried, key=lambda pair: -math.inf if math.isnan(pair[1].rate) else pair[1].rate)

    @property
    def eps(self) -> float:
        return self.best[1].rate

    def as_dict(self) -> dict[str, Any]:
        config, run = self.best
        return {
            "config": asdict(config),
            "events": self.events,
            "verdicts": len(run.samples),
            "eps": run.rate,
            "median_batch_inference_ms": run.median_batch_inference_ms,
            "stages": run.stages(),
            "tried": [{"config": asdict(c), "eps": r.rate} for c, r in self.tried],
        }


def pipeline_shapes(best: SweepPoint, grid: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The worker's (batch size, requests in flight) to try: Triton's best point, and its largest batch
    with two in flight. Small batches cost the worker a request each; on a CPU shared with the
    worker and the broker, the larger batch often wins end to end although Triton alone ranks it lower.
    """
    shapes = [(best.batch, max(2, best.concurrency)), (max(batch for batch, _ in grid), 2)]
    return list(dict.fromkeys(shapes))


class Workers:
    """``count`` real worker processes in one consumer group, stopped with SIGTERM."""

    def __init__(self, settings: Settings, env: dict[str, str], group: str, count: int, log_dir: Path) -> None:
        self._settings = settings
        self._group = group
        self._count = count
        self.processes = [WorkerProcess(f"{group}-{i}", log_dir / f"{group}-{i}.log", env) for i in range(count)]

    def alive(self) -> bool:
        return all(p.alive() for p in self.processes)

    def wait_joined(self, timeout_s: float) -> None:
        """Block until the group is stable with every worker in it."""
        admin = build_settings_admin_client(self._settings.kafka)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                logs = ", ".join(str(p.log_path) for p in self.processes)
                raise RuntimeError(f"a worker exited during start-up; see {logs}")
            try:
                description = admin.describe_consumer_groups([self._group])[self._group].result(timeout=5)
                if len(description.members) >= self._count and str(description.state).endswith("STABLE"):
                    return
            except KafkaException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"workers did not join group {self._group} within {timeout_s:.0f}s")

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


def _session(
    settings: Settings, config: PipelineConfig, audit_url: str, label: str
) -> tuple[str, TopicSettings, str, dict[str, str]]:
    """A run id, fresh topics, a consumer group and the workers' environment for one phase."""
    run = uuid.uuid4().hex[:8]
    prefix = f"bench.{label}.{run}"
    topics = create_topics(settings.kafka, prefix)
    group = f"bench-{label}-{run}"
    return run, topics, group, config.environment(settings, topics, audit_url, group)


def run_backlog(
    settings: Settings,
    config: PipelineConfig,
    pool: list[ChatEvent],
    events: int,
    audit_url: str,
    log_dir: Path,
    label: str,
    timeout_s: float = 600.0,
) -> PipelineRun:
    """Produce ``events`` flat out, then let the workers drain them; verdicts give the rate."""
    run, topics, group, env = _session(settings, config, audit_url, label)
    try:
        generator = LoadGenerator(build_producer(settings.kafka), topics.chat_events, pool, f"{label}-{run}")
        load = generator.produce(events, None, "backlog")
        workers = Workers(settings, env, group, config.workers, log_dir)
        try:
            workers.wait_joined(120)
            wait_caught_up(settings.kafka, group, topics.chat_events, timeout_s, workers.alive)
        finally:
            workers.stop()
        samples = read_verdicts(settings.kafka, topics.verdicts)
    finally:
        delete_topics(settings.kafka, topics)
    return PipelineRun(events, load, samples)


def drain_at_shapes(
    settings: Settings,
    base: PipelineConfig,
    shapes: Sequence[tuple[int, int]],
    pool: list[ChatEvent],
    events: int,
    audit_url: str,
    log_dir: Path,
    label: str,
    timeout_s: float,
    say: Callable[[str], None],
) -> BacklogTrials:
    """The same backlog drained once per (batch size, requests in flight) shape of ``base``."""
    tried: list[tuple[PipelineConfig, PipelineRun]] = []
    for batch, in_flight in shapes:
        candidate = replace(base, batch_max_size=batch, max_in_flight=in_flight)
        run = run_backlog(settings, candidate, pool, events, audit_url, log_dir, label, timeout_s)
        say(f"  batch {batch} × {in_flight} in flight: {run.rate:,.0f} events/s ({len(run.samples)}/{events} verdicts)")
        tried.append((candidate, run))
    return BacklogTrials(events, tried)


def run_latency(
    settings: Settings,
    config: PipelineConfig,
    pool: list[ChatEvent],
    rates: list[float],
    seconds_each: float,
    audit_url: str,
    log_dir: Path,
    label: str,
    timeout_s: float = 300.0,
) -> list[LatencyLevel]:
    """Offer each rate in turn for ``seconds_each`` to running workers; latency per level."""
    run, topics, group, env = _session(settings, config, audit_url, label)
    levels: list[LatencyLevel] = []
    try:
        generator = LoadGenerator(build_producer(settings.kafka), topics.chat_events, pool, f"{label}-{run}")
        workers = Workers(settings, env, group, config.workers, log_dir)
        try:
            workers.wait_joined(120)
            generator.produce(20, None, "warmup")
            wait_caught_up(settings.kafka, group, topics.chat_events, timeout_s, workers.alive)
            for index, rate in enumerate(rates):
                load = generator.produce(None, rate, f"level{index}", duration_s=seconds_each)
                levels.append(LatencyLevel(rate, load))
                wait_caught_up(settings.kafka, group, topics.chat_events, timeout_s, workers.alive)
        finally:
            workers.stop()
        samples = read_verdicts(settings.kafka, topics.verdicts)
    finally:
        delete_topics(settings.kafka, topics)
    for index, level in enumerate(levels):
        marker = f"-level{index}-"
        level.samples = [s for s in samples if marker in s.event_id]
    return levels
