"""Triton alone: the best throughput a client gets for a model, swept over batch size and concurrency.

One asyncio event loop keeps ``concurrency`` requests of ``batch`` pairs in flight with the
asyncio gRPC client; inputs are built before the clock starts, so the figure is what Triton and
the model deliver, not what the client spends building requests.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from guardstream.guard.backend_settings import INPUT_QUESTION, INPUT_RESPONSE
from guardstream.settings import TritonSettings
from workers.triton_client import build_aio_grpc_client, bytes_input

Pair = tuple[str, str]
REQUEST_ITEMS = 512


@dataclass(frozen=True, slots=True)
class SweepPoint:
    batch: int
    concurrency: int
    items_per_s: float
    requests: int
    median_request_ms: float


def best_point(points: Sequence[SweepPoint]) -> SweepPoint:
    """The point with the highest throughput; ties go to the smaller batch, then less concurrency."""
    if not points:
        raise ValueError("no sweep points were measured")
    return max(points, key=lambda p: (p.items_per_s, -p.batch, -p.concurrency))


def sweep_grid(batches: Sequence[int], concurrencies: Sequence[int], max_batch_size: int) -> list[tuple[int, int]]:
    """Every (batch, concurrency) to measure; batches above the model's limit are left out."""
    usable = sorted({b for b in batches if 1 <= b <= max_batch_size} or {max_batch_size})
    return [(b, c) for b in usable for c in sorted(set(concurrencies)) if c >= 1]


def request_chunks(pairs: Sequence[Pair], batch: int, items: int = REQUEST_ITEMS) -> list[list[Pair]]:
    """The batches a measurement cycles through: at least ``items`` pairs (and 8 requests) in all.

    Every batch size sees the same stretch of the load, long tail included: a model whose cost
    follows the longest item of a batch (padding) is not measured on a few short items only.
    """
    ring = itertools.cycle(pairs)
    return [[next(ring) for _ in range(batch)] for _ in range(max(8, math.ceil(items / batch)))]


def _requests(pairs: Sequence[Pair], batch: int) -> list[list]:
    return [
        [bytes_input(INPUT_QUESTION, [q for q, _ in chunk]), bytes_input(INPUT_RESPONSE, [r for _, r in chunk])]
        for chunk in request_chunks(pairs, batch)
    ]


async def _measure(
    settings: TritonSettings,
    model: str,
    output: str,
    pairs: Sequence[Pair],
    batch: int,
    concurrency: int,
    seconds: float,
    warmup_s: float,
    min_requests: int,
) -> SweepPoint:
    import tritonclient.grpc as grpcclient

    client = build_aio_grpc_client(settings)
    requests = _requests(pairs, batch)
    outputs = [grpcclient.InferRequestedOutput(output)]
    durations: list[float] = []
    done_items = 0
    first_counted: float | None = None
    last_done = 0.0
    started = time.perf_counter()
    counting_from = started + warmup_s
    stop_at = counting_from + seconds
    hard_stop = counting_from + 4 * seconds

    def more() -> bool:
        now = time.perf_counter()
        return now < stop_at or (len(durations) < min_requests and now < hard_stop)

    async def lane(offset: int) -> None:
        nonlocal done_items, first_counted, last_done
        index = offset
        while more():
            sent = time.perf_counter()
            await client.infer(model, requests[index % len(requests)], outputs=outputs, client_timeout=600)
            now = time.perf_counter()
            index += concurrency
            if sent >= counting_from:
                first_counted = sent if first_counted is None else min(first_counted, sent)
                done_items += batch
                last_done = max(last_done, now)
                durations.append((now - sent) * 1000.0)

    try:
        await asyncio.gather(*(lane(i) for i in range(concurrency)))
    finally:
        await client.close()
    span = last_done - first_counted if first_counted is not None else 0.0
    durations.sort()
    return SweepPoint(
        batch=batch,
        concurrency=concurrency,
        items_per_s=done_items / span if span > 0 else 0.0,
        requests=len(durations),
        median_request_ms=durations[len(durations) // 2] if durations else float("nan"),
    )


def measure(
    settings: TritonSettings,
    model: str,
    output: str,
    pairs: Sequence[Pair],
    batch: int,
    concurrency: int,
    seconds: float,
    warmup_s: float = 0.5,
    min_requests: int = 8,
) -> SweepPoint:
    """Throughput of ``model`` at one (batch, concurrency) point.

    Runs ``seconds`` after a warm-up, longer (up to 4×) until ``min_requests`` requests have
    completed, so that slow points are not judged on one or two requests.
    """
    return asyncio.run(_measure(settings, model, output, pairs, batch, concurrency, seconds, warmup_s, min_requests))


def sweep(
    settings: TritonSettings,
    model: str,
    output: str,
    pairs: Sequence[Pair],
    grid: Sequence[tuple[int, int]],
    seconds: float,
) -> list[SweepPoint]:
    return [measure(settings, model, output, pairs, batch, concurrency, seconds) for batch, concurrency in grid]
