"""Periodic runs: start when enough new human labels arrived or enough time passed; one at a time.

State lives in ``<runs_dir>/schedule.json`` (when the last run started and which labels it saw);
``<runs_dir>/train.lock`` is held with ``flock`` for the whole run, so a second
``guardstream train --schedule`` started meanwhile finds it taken and steps aside (the lock goes
with the process, so a crashed run never leaves it stuck).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from training.config import ScheduleConfig

STATE_FILE = "schedule.json"
LOCK_FILE = "train.lock"


class LockBusy(RuntimeError):
    """Another training run holds the lock."""


@contextmanager
def run_lock(runs_dir: Path) -> Iterator[Path]:
    """Hold ``<runs_dir>/train.lock`` (non-blocking); raises :class:`LockBusy` if taken."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    path = runs_dir / LOCK_FILE
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            raise LockBusy(f"another training run holds {path} ({holder or 'unknown holder'})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid={os.getpid()} since={int(time.time())}\n")
        handle.flush()
        yield path
    finally:
        handle.close()


@dataclass
class ScheduleState:
    last_run_at: float = 0.0
    seen_labels: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, runs_dir: Path) -> ScheduleState:
        try:
            raw = json.loads((runs_dir / STATE_FILE).read_text(encoding="utf-8"))
            return cls(float(raw.get("last_run_at", 0.0)), list(raw.get("seen_labels", [])))
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, runs_dir: Path) -> None:
        runs_dir.mkdir(parents=True, exist_ok=True)
        tmp = runs_dir / f".{STATE_FILE}.tmp"
        tmp.write_text(
            json.dumps({"last_run_at": self.last_run_at, "seen_labels": self.seen_labels}) + "\n", encoding="utf-8"
        )
        tmp.replace(runs_dir / STATE_FILE)


@dataclass(frozen=True)
class Trigger:
    due: bool
    reason: str
    new_labels: int


def check_due(config: ScheduleConfig, state: ScheduleState, label_ids: Iterable[str], now: float) -> Trigger:
    """Whether a run is due, and why (new labels, or time since the last run)."""
    new = len(set(label_ids) - set(state.seen_labels))
    if new >= config.min_new_labels:
        return Trigger(True, f"{new} new human labels (threshold {config.min_new_labels})", new)
    hours = (now - state.last_run_at) / 3600 if state.last_run_at else float("inf")
    if hours >= config.max_interval_hours:
        since = "no run yet" if state.last_run_at == 0 else f"{hours:.1f} h since the last run"
        return Trigger(True, f"{since} (interval {config.max_interval_hours} h)", new)
    return Trigger(
        False,
        f"not due: {new} new labels (< {config.min_new_labels}), {hours:.1f} h since the last run "
        f"(< {config.max_interval_hours} h)",
        new,
    )
