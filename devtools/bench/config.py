"""How big and how long each benchmark phase is (one frozen dataclass, ``quick()`` for the plumbing test)."""

from __future__ import annotations

from dataclasses import dataclass

LATENCY_SHARES = (0.25, 0.5, 0.7, 0.9)


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Sizes and durations of the phases (``quick()`` for the plumbing test)."""

    seed: int = 7
    pool_size: int = 5000
    sweep_batches: tuple[int, ...] = (4, 8, 16, 32, 64)
    sweep_concurrency: tuple[int, ...] = (1, 2, 4)
    sweep_seconds: float = 3.0
    explain_seconds: float = 8.0
    modes_rounds: int = 3
    """Score and explain are measured alternately this many times; figures are the medians."""
    explain_batch: int = 16
    naive_seconds: float = 10.0
    pipeline_seconds: float = 20.0
    """Roughly how long the pipeline backlog takes to drain (its size is derived from Triton's rate)."""
    pipeline_min_events: int = 2000
    fast_seconds: float = 6.0
    """Per point of the fast guard through Triton alone (on CPU, a request of a BERT-sized encoder takes seconds)."""
    fast_min_events: int = 200
    """Smallest backlog of the fast and cascade pipeline phases (sized like the pipeline's otherwise)."""
    escalate_band: tuple[float, float] | None = None
    """The cascade phase's uncertain band; None: the band that holds ``escalate_share`` of the load."""
    escalate_share: float = 0.15
    """The share of the load's items the cascade phase escalates when no band is given."""
    calibration_items: int = 300
    """How many of the load's items the fast guard scores to place the band."""
    overhead_events: int = 150_000
    overhead_workers: int = 0
    """Worker processes of the constant-model phase; 0: one on SQLite (one writer), two on PostgreSQL."""
    overhead_batch: int = 1024
    latency_seconds: float = 8.0
    latency_shares: tuple[float, ...] = LATENCY_SHARES
    batch_max_wait_ms: float = 20.0
    phase_timeout_s: float = 600.0
    stream_replies: int = 200
    """Streamed replies of the streaming phase (about half unsafe)."""
    stream_open: int = 16
    """Replies streaming at once in the streaming phase."""
    stream_cost_chunks: int = 30
    """Chunks timed per prefix length when measuring what a chunk costs."""

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls(
            pool_size=300,
            sweep_batches=(16,),  # the fast and cascade backlogs are a few windows of it
            sweep_concurrency=(1, 2),
            sweep_seconds=1.0,
            explain_seconds=2.0,
            modes_rounds=1,
            explain_batch=4,
            naive_seconds=2.0,
            pipeline_seconds=2.0,
            pipeline_min_events=200,
            fast_seconds=2.0,
            fast_min_events=48,
            calibration_items=48,
            overhead_events=2000,
            overhead_workers=1,
            overhead_batch=256,
            latency_seconds=2.0,
            latency_shares=(0.7,),  # the level the p99 figure is read at
            phase_timeout_s=180.0,
            stream_replies=4,
            stream_open=2,
            stream_cost_chunks=2,
        )
