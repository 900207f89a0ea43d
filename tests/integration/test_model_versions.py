"""Loading, promoting and rolling back a guard version while a stream flows: nothing lost, nothing fails."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.demo.replay import WorkerProcess, worker_environment
from devtools.loadgen.chat_stream import generate_chat_events
from guardstream.paths import repository_root
from guardstream.records import ChatEvent
from guardstream.serde.codec import encode_record
from guardstream.settings import Settings, TopicSettings
from tests.integration.test_worker_end_to_end import read_outputs
from workers.kafka_clients import build_producer
from workers.model_versions import ModelVersions
from workers.triton_client import build_grpc_client

# Exclusive: it promotes and rolls back the served generative guard.
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]
REPOSITORY = repository_root() / "triton_models"


@pytest.fixture()
def candidate(base_settings: Settings, triton_ready: None) -> Iterator[tuple[ModelVersions, str]]:
    """A second version (a copy of version 1's weights) on disk; cleaned away afterwards."""
    versions = ModelVersions(base_settings.triton, REPOSITORY)
    number = str(max(int(v) for v in versions.on_disk()) + 1)
    folder = REPOSITORY / "guard" / number
    shutil.copytree(REPOSITORY / "guard" / "1", folder, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        yield versions, number
    finally:
        pointer = versions.pointer()
        if pointer.current == number:
            versions.rollback()
        if number in versions.pointer().loaded:
            versions.retire(number)
        shutil.rmtree(folder)
        shutil.rmtree(REPOSITORY / "guard_explain" / number, ignore_errors=True)
        (REPOSITORY / "serving.json").unlink(missing_ok=True)
        versions.close()


def failures(settings: Settings) -> dict[str, int]:
    """Failed inference requests per version of the score model, as Triton counts them."""
    client = build_grpc_client(settings.triton)
    stats = client.get_inference_statistics("guard", as_json=True).get("model_stats", [])
    client.close()
    return {s["version"]: int(s["inference_stats"].get("fail", {}).get("count", 0)) for s in stats}


def test_load_promote_rollback_while_streaming_loses_nothing_and_fails_nothing(
    base_settings: Settings, fresh_topics: TopicSettings, candidate: tuple[ModelVersions, str], tmp_path: Path
) -> None:
    versions, number = candidate
    run = uuid.uuid4().hex[:8]
    failed_before = failures(base_settings)
    worker = WorkerProcess(
        f"versions-{run}",
        tmp_path / "worker.log",
        env={
            **worker_environment(base_settings, fresh_topics, f"sqlite:///{tmp_path / 'audit.db'}", f"group-{run}"),
            "GUARDSTREAM_TRITON__VERSION_POLL_S": "0.5",
            # the generative guard scores every event, so its versions are what the verdicts name
            "GUARDSTREAM_TRITON__FAST_MODEL_NAME": "",
        },
    )
    stream = generate_chat_events(100_000, seed=5)
    events: list[ChatEvent] = []
    producer = build_producer(base_settings.kafka)
    stop, done = threading.Event(), threading.Event()

    def produce_until_stopped() -> None:
        """About 40 events a second, a load the worker keeps up with, until the steps are over."""
        while not stop.is_set() and len(events) < 20_000:
            for _ in range(10):
                event = dataclasses.replace(next(stream), created_at_ms=int(time.time() * 1000))
                event = dataclasses.replace(event, event_id=f"{run}-{event.event_id}")
                producer.produce(fresh_topics.chat_events, encode_record(event), key=event.conversation_id.encode())
                events.append(event)
            producer.poll(0)
            time.sleep(0.25)
        producer.flush(30)
        done.set()

    steps: list[tuple[str, Any]] = []
    try:
        thread = threading.Thread(target=produce_until_stopped)
        thread.start()
        time.sleep(3)
        steps.append(("load", versions.load(number)))
        steps.append(("promote", versions.promote(number)))
        time.sleep(5)
        steps.append(("rollback", versions.rollback()))
        time.sleep(3)
        stop.set()
        thread.join(60)
        assert done.is_set()
        verdicts, letters = read_outputs(base_settings, fresh_topics, len(events), timeout_s=180)
    finally:
        assert worker.stop() == 0, f"see {worker.log_path}"

    counts = Counter(v.event_id for v in verdicts)
    assert set(counts) == {e.event_id for e in events} and max(counts.values()) == 1, f"see {worker.log_path}"
    assert letters == []
    served_by = Counter(v.model_version for v in verdicts)
    assert served_by.keys() == {"1", number}, served_by
    assert [name for name, _ in steps] == ["load", "promote", "rollback"]
    assert steps[1][1].current == number and steps[2][1].current == "1"
    after = failures(base_settings)
    assert {v: after.get(v, 0) - failed_before.get(v, 0) for v in after} == {v: 0 for v in after}
