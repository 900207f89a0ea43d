"""A finished stream's marker is forgotten (a tombstone) once older than finished_retention_s."""

from __future__ import annotations

import time
from typing import Any, cast

from guardstream.settings import StreamSettings, TopicSettings
from guardstream.streaming.progress import StreamProgress
from workers.streaming.cycle import CycleOutputs
from workers.streaming.worker import StreamWorker


def test_markers_older_than_the_retention_get_a_tombstone_and_the_rest_stay() -> None:
    nothing = cast(Any, None)
    worker = StreamWorker(
        StreamSettings(finished_retention_s=60), TopicSettings(), nothing, nothing, nothing, nothing, nothing,
        nothing, nothing,
    )  # fmt: skip
    now = int(time.time() * 1000)
    base = StreamProgress(stream_id="", conversation_id="c", user_id="u", question="", started_at_ms=0)
    streams = {
        "old": base.finished(now - 61_000),
        "young": base.finished(now - 59_000),
        "open": base,
    }
    worker._streams.update(streams)
    worker._partitions[2] = set(streams)
    outputs = CycleOutputs()
    outputs.progress[(2, "young")] = streams["young"]
    worker._expire_markers(outputs)
    assert outputs.progress == {(2, "young"): streams["young"], (2, "old"): None}
