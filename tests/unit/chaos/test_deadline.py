"""A chaos scenario's deadline moves on while outputs keep coming: a slow machine is waited for,
a stalled pipeline is not (20,000 events through the cascade on two cores take ~20 minutes)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from devtools.chaos.options import ChaosOptions
from devtools.chaos.runner import ChaosContext
from devtools.chaos.tally import OutputTally


def _context(stall_s: float) -> tuple[ChaosContext, OutputTally]:
    tally = OutputTally()
    unused: Any = None
    ctx = ChaosContext(
        name="duplicates", options=ChaosOptions(output_dir=Path("."), stall_s=stall_s), settings=unused,
        devstack=unused, topics=unused, group="g", run_id="r", fleet=unused, stream=unused,
        reader=SimpleNamespace(tally=tally), admin=unused, progress=lambda *_: None, audit_url="",
    )  # fmt: skip
    ctx.deadline = time.monotonic() - 1.0  # the first deadline has passed
    return ctx, tally


def test_a_record_accounted_for_moves_the_deadline_on() -> None:
    ctx, tally = _context(stall_s=60.0)
    tally.verdicts[(0, 0)] += 1
    assert ctx.expired() is False
    assert ctx.deadline >= time.monotonic() + 59.0


def test_without_new_outputs_the_deadline_stays_passed() -> None:
    ctx, tally = _context(stall_s=60.0)
    tally.verdicts[(0, 0)] += 1
    ctx.expired()
    ctx.deadline = time.monotonic() - 1.0  # a stall of stall_s later
    assert ctx.expired() is True  # the same single output is no progress
