"""What a chaos run is asked to do: stream sizes, fault counts, durations, deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SCENARIOS = ("kill9", "triton_restart", "db_outage", "broker_restart", "rebalance", "poison", "fuzz", "overload")
RSS_LIMIT_MB = 1024.0


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    events: int = 20_000
    """Valid chat events per scenario (overload sends as many as its rate and duration make)."""
    seed: int = 11
    json_share: float = 0.1
    kills: int = 5
    outage_s: float = 25.0
    broker_down_s: float = 5.0
    rebalance_workers: int = 3
    overload_s: float = 300.0
    overload_factor: float = 10.0
    sustainable_rate: float | None = None
    """Verdicts/s the pipeline sustains; None: measured by the overload scenario first."""
    calibration_events: int = 2_000
    min_rate: float = 20.0
    """Slowest verdict rate the deadlines allow for (verdicts/s)."""
    settle_timeout_s: float = 150.0
    """How long the final read may wait for open transactions of killed workers to time out."""
    output_dir: Path = Path(".run/chaos")

    def deadline_s(self, records: int) -> float:
        """The time a scenario may take to account for ``records`` records, faults included."""
        return 180.0 + records / self.min_rate
