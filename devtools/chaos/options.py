"""What a chaos run is asked to do: stream sizes, fault counts, durations, deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SCENARIOS = (
    "kill9", "triton_restart", "db_outage", "broker_restart", "rebalance", "poison", "fuzz", "duplicates", "fallback",
    "overload",
)  # fmt: skip
RSS_LIMIT_MB = 1024.0


def chosen_scenarios(given: list[str] | None) -> list[str]:
    """The scenarios named by repeated and comma-separated values, in order, once each; all when none.

    Raises :class:`ValueError` naming any unknown one.
    """
    names = [name.strip() for value in given or () for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    return list(dict.fromkeys(names)) or list(SCENARIOS)


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
    resend_share: float = 0.1
    """Share of the duplicates scenario's events sent a second time."""
    resend_after_s: float = 60.0
    """How long after the first part of the duplicates scenario is judged its late copies are sent."""
    overload_s: float = 300.0
    overload_factor: float = 10.0
    sustainable_rate: float | None = None
    """Verdicts/s the pipeline sustains; None: measured by the overload scenario first."""
    calibration_events: int = 2_000
    min_rate: float = 20.0
    """Verdicts/s the first deadline allows for; after that the deadline moves on with progress."""
    stall_s: float = 180.0
    """How long a scenario may go without one more record accounted for before it fails: a slow
    machine (the cascade judges ~20 events/s on two cores) is waited for, a stalled pipeline is not."""
    settle_timeout_s: float = 150.0
    """How long the final read may wait for open transactions of killed workers to time out."""
    output_dir: Path = Path(".run/chaos")

    def deadline_s(self, records: int) -> float:
        """The time a scenario may take to account for ``records`` records, faults included."""
        return 180.0 + records / self.min_rate
