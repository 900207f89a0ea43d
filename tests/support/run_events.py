"""Generated chat events of one test run: ids prefixed with the run's id, created now."""

from __future__ import annotations

import dataclasses
import time

from devtools.loadgen.chat_stream import generate_chat_events
from guardstream.records import ChatEvent


def run_events(run: str, count: int, seed: int) -> list[ChatEvent]:
    """``count`` events of ``seed``'s stream, unique to ``run`` (ids never meet another run's in a
    shared audit store) and stamped with the current time (no event looks hours late)."""
    now_ms = int(time.time() * 1000)
    return [
        dataclasses.replace(event, event_id=f"{run}-{event.event_id}", created_at_ms=now_ms)
        for event in generate_chat_events(count, seed=seed)
    ]
