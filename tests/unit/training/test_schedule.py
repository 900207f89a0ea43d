"""Periodic runs: due on new labels or elapsed time; the lock keeps a second run out."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.config import ScheduleConfig
from training.schedule import LockBusy, ScheduleState, check_due, run_lock


def test_due_on_new_labels_or_interval() -> None:
    config = ScheduleConfig(min_new_labels=3, max_interval_hours=1.0)
    now = 1_000_000.0
    fresh = ScheduleState(last_run_at=now - 60, seen_labels=["a", "b"])
    assert not check_due(config, fresh, ["a", "b", "c"], now).due
    assert check_due(config, fresh, ["a", "b", "c", "d", "e"], now).due
    stale = ScheduleState(last_run_at=now - 7200, seen_labels=[])
    assert "h since the last run" in check_due(config, stale, [], now).reason
    assert check_due(config, ScheduleState(), [], now).due


def test_state_round_trips(tmp_path: Path) -> None:
    ScheduleState(12.5, ["x"]).save(tmp_path)
    assert ScheduleState.load(tmp_path) == ScheduleState(12.5, ["x"])


def test_a_second_run_finds_the_lock_taken_even_from_another_process(tmp_path: Path) -> None:
    with run_lock(tmp_path):
        with pytest.raises(LockBusy, match="pid="), run_lock(tmp_path):
            pass
        code = (
            "import sys; from pathlib import Path; from training.schedule import run_lock, LockBusy\n"
            "try:\n    with run_lock(Path(sys.argv[1])): sys.exit(0)\nexcept LockBusy: sys.exit(3)\n"
        )
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=60)
        assert other.returncode == 3
    with run_lock(tmp_path):  # released: free again
        pass


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    code = "import sys, time; from pathlib import Path; from training.schedule import run_lock\nwith run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)\n"
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy), run_lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    deadline = time.monotonic() + 10
    while True:
        try:
            with run_lock(tmp_path):
                break
        except LockBusy:
            assert time.monotonic() < deadline
            time.sleep(0.1)
