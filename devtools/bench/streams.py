"""The streaming phase: streamed replies through a real stream worker, and what a chunk costs.

* ``stream_chunks_per_s`` — chunks produced ÷ seconds from the first chunk produced to the last
  final verdict committed, one stream worker, ``stream_open`` replies streaming at once;
* ``stream_detect_delay_chars_p50``/``_p95`` — over unsafe replies stopped by a provisional
  decision: characters received at the stop past where the harmful span began;
* ``stream_false_stop_rate`` — safe replies (many about sensitive subjects) that a provisional
  decision stopped;
* ``stream_cost_ratio_long_short`` — the policy's stream model through Triton: milliseconds per
  chunk with 2,000 characters of reply before it ÷ with 200 (≈ 1: a chunk costs O(chunk)); the
  other stream model's ratio is reported beside it. Short and long streams alternate, so drift in
  the machine's speed falls on both.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tritonclient.grpc as grpcclient

from devtools.demo.replay import wait_for_group_member
from devtools.streams.measure import StreamQuality, contract_problems, measure_quality
from devtools.streams.replies import SENSITIVE_SAFE, generate_replies
from devtools.streams.session import (
    chunk_records,
    create_stream_topics,
    delete_stream_topics,
    produce_chunks,
    start_stream_worker,
    stream_worker_environment,
    wait_for_finals,
)
from guardstream.policy import Policy
from guardstream.settings import Settings
from workers.kafka_clients import build_settings_admin_client
from workers.streaming.stream_client import ChunkRequest, StreamModelClient

SHORT_PREFIX, LONG_PREFIX = 200, 2000
COST_DELTA_CHARS = 10


@dataclass(slots=True)
class StreamBenchResults:
    replies: int = 0
    chunks: int = 0
    seconds: float = float("nan")
    quality: StreamQuality | None = None
    problems: list[str] = field(default_factory=list)
    """Breaches of the contract seen in the outputs (none expected)."""
    cost_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per kind of stream model (fast, generative): median ms per chunk at SHORT_PREFIX and at LONG_PREFIX characters."""
    policy_kind: str = ""
    """The kind the policy's streaming section chooses."""

    def as_dict(self) -> dict[str, Any]:
        quality = self.quality
        return {
            "replies": self.replies,
            "chunks": self.chunks,
            "seconds": self.seconds,
            "chunks_per_s": self.chunks_per_s,
            "quality": None if quality is None else {**asdict(quality), "delays": list(quality.delays)},
            "problems": self.problems,
            "cost_ms": {kind: {"short": short, "long": long} for kind, (short, long) in self.cost_ms.items()},
            "policy_kind": self.policy_kind,
        }

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else float("nan")

    def cost_ratio(self, kind: str) -> float:
        short, long = self.cost_ms.get(kind, (float("nan"), float("nan")))
        return long / short if short > 0 else float("nan")


def run_streams(
    settings: Settings,
    replies_count: int,
    open_streams: int,
    cost_chunks: int,
    seed: int,
    audit_url: str,
    log_dir: Path,
    timeout_s: float,
    say: Callable[[str], None] = lambda _line: None,
) -> StreamBenchResults:
    results = StreamBenchResults()
    models = {"fast": settings.streams.fast_model_name, "generative": settings.streams.generative_model_name}
    results.policy_kind = Policy.from_settings(settings.policy).streaming.model.value
    run = uuid.uuid4().hex[:8]
    replies = list(generate_replies(replies_count, seed, run_id=f"bench-{run}"))
    topics = create_stream_topics(settings.kafka, f"bench.streams.{run}")
    group = f"bench-streams-{run}"
    worker = start_stream_worker(stream_worker_environment(settings, topics, audit_url, group), log_dir)
    try:
        wait_for_group_member(build_settings_admin_client(settings.kafka), group, worker, 120)
        chunks = chunk_records(replies, open_streams, int(time.time() * 1000))
        started = time.perf_counter()
        produce_chunks(settings.kafka, topics.reply_chunks, chunks)
        outputs = wait_for_finals(settings.kafka, topics, len(replies), [worker], timeout_s)
        results.seconds = time.perf_counter() - started
        results.replies, results.chunks = len(replies), len(chunks)
        results.quality = measure_quality(replies, outputs)
        results.problems = contract_problems(replies, outputs)
        say(
            f"  {len(chunks)} chunks of {len(replies)} replies in {results.seconds:.1f}s; "
            f"stopped {results.quality.detected}/{results.quality.unsafe} unsafe, "
            f"{results.quality.false_stops}/{results.quality.safe} safe"
        )
    finally:
        worker.stop()
        delete_stream_topics(settings.kafka, topics)
    for kind, model in models.items():
        results.cost_ms[kind] = chunk_cost(settings, model, cost_chunks)
        short, long = results.cost_ms[kind]
        say(
            f"  {kind} stream model {model}: {short:.1f} ms per chunk at {SHORT_PREFIX} chars, {long:.1f} at {LONG_PREFIX}"
        )
    return results


def chunk_cost(settings: Settings, model: str, chunks: int) -> tuple[float, float]:
    """Median ms per chunk of one stream at a short and at a long prefix, through Triton, alternating.

    The long prefix ends with the short one and both streams then get the same deltas, so the two
    differ only in how much reply came before: what the model reads of the newest text is the same."""
    client = StreamModelClient(settings.triton, model)
    sentences = "".join(SENSITIVE_SAFE)
    material = sentences * ((LONG_PREFIX + chunks * COST_DELTA_CHARS) // len(sentences) + 2)
    common = material[:SHORT_PREFIX]
    prefixes = {SHORT_PREFIX: common, LONG_PREFIX: material[::-1][: LONG_PREFIX - SHORT_PREFIX] + common}
    deltas = [material[SHORT_PREFIX + i * COST_DELTA_CHARS :][:COST_DELTA_CHARS] for i in range(chunks)]
    times: dict[int, list[float]] = {size: [] for size in prefixes}
    run = uuid.uuid4().hex[:8]
    try:
        streams = {size: f"cost-{run}-{size}" for size in prefixes}
        so_far = dict(prefixes)
        for size, stream_id in streams.items():  # open each stream at its prefix (a rebuild: not timed)
            client.score([ChunkRequest(stream_id, "问题", so_far[size], "", start=True, end=False)])
        for index, delta in enumerate(deltas):
            for size, stream_id in streams.items():
                request = ChunkRequest(stream_id, "问题", delta, so_far[size], start=False, end=index == chunks - 1)
                began = time.perf_counter()
                client.score([request])
                times[size].append((time.perf_counter() - began) * 1000.0)
                so_far[size] += delta
    except grpcclient.InferenceServerException as exc:
        raise RuntimeError(f"{model}: {exc}") from exc
    finally:
        client.close()
    return statistics.median(times[SHORT_PREFIX]), statistics.median(times[LONG_PREFIX])
