"""A worker killed at a chosen point of its commit, not at a random moment: between the audit write
and the Kafka transaction, inside the open transaction with its verdicts on the broker, and with the
offsets added too. Each time the broker or the database is shown to hold the half-done work, and a
new worker under the same id (it fences the dead one's transaction) leaves exactly one committed
verdict and one audit row per event."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from devtools.demo.replay import WorkerProcess, worker_environment
from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.tables import VerdictRow
from guardstream.records import Verdict
from guardstream.serde.codec import AvroDecoder, encode_record
from guardstream.settings import Settings, TopicSettings
from tests.support.fault_point_worker import POINTS
from tests.support.run_events import run_events
from tests.support.topic_reading import read_values
from workers.kafka_clients import build_producer

pytestmark = pytest.mark.integration

EVENTS = 60


def verdict_ids(settings: Settings, topic: str, isolation: str) -> Counter[str]:
    """Event ids of every verdict on ``topic`` up to its end, read at ``isolation``."""
    decoder = AvroDecoder()
    return Counter(decoder.decode(Verdict, value).event_id for value in read_values(settings, topic, isolation))


def audit_ids(postgres_url: str, event_ids: list[str]) -> Counter[str]:
    engine = build_engine(postgres_url)
    migrate(engine)
    with engine.connect() as connection:
        rows = connection.execute(select(VerdictRow.event_id).where(VerdictRow.event_id.in_(event_ids))).all()
    engine.dispose()
    return Counter(row.event_id for row in rows)


@pytest.mark.parametrize("point", POINTS)
def test_a_worker_killed_at_a_point_of_its_commit_loses_nothing_and_repeats_nothing(
    point: str,
    base_settings: Settings,
    triton_ready: None,
    fresh_topics: TopicSettings,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    events = run_events(run, EVENTS, seed=23)
    producer = build_producer(base_settings.kafka)
    for event in events:
        producer.produce(fresh_topics.chat_events, value=encode_record(event), key=event.conversation_id.encode())
    assert producer.flush(30) == 0
    # Delivery faults, not the model, are under test: the generative guard alone judges in seconds.
    settings = base_settings.model_copy(
        update={"triton": base_settings.triton.model_copy(update={"fast_model_name": ""})}
    )
    env = worker_environment(settings, fresh_topics, postgres_url, f"fault-{run}")
    worker_id, marker = f"fault-{run}", tmp_path / "fault.json"

    with (tmp_path / "killed.log").open("wb") as log:
        killed = subprocess.run(
            [sys.executable, "-m", "tests.support.fault_point_worker", point, str(marker), "--worker-id", worker_id, "--metrics-port", "0"],
            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, timeout=240,
        )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, f"the worker did not die at {point}; see {tmp_path / 'killed.log'}"
    fault = json.loads(marker.read_text(encoding="utf-8"))
    batch = fault["event_ids"]
    assert fault["point"] == point and batch, fault

    # What the dead worker left behind, before anyone cleans up after it.
    assert set(audit_ids(postgres_url, batch)) == set(batch), "the batch's audit rows were written before the kill"
    uncommitted = verdict_ids(settings, fresh_topics.verdicts, "read_uncommitted")
    if point == "audit_written":
        assert fault["produced"] == 0 and not uncommitted, "no transaction had begun"
    else:
        assert fault["produced"] >= len(batch) and set(batch) <= set(uncommitted), (
            "the open transaction's verdicts are on the broker"
        )

    worker = WorkerProcess(worker_id, tmp_path / "worker.log", env=env)
    try:
        committed, deadline = Counter[str](), time.monotonic() + 180
        while sum(committed.values()) < len(events) and time.monotonic() < deadline:
            assert worker.alive(), f"see {worker.log_path}"
            time.sleep(1)
            committed = verdict_ids(settings, fresh_topics.verdicts, "read_committed")
        assert set(committed) == {event.event_id for event in events}, f"lost events; see {worker.log_path}"
        assert max(committed.values()) == 1, "an event has two committed verdicts"
        assert audit_ids(postgres_url, [event.event_id for event in events]) == Counter(committed)
        if point != "audit_written":
            # The killed transaction's verdicts stay in the log, aborted: each of the batch's events
            # is there twice read uncommitted, once read committed.
            again = verdict_ids(settings, fresh_topics.verdicts, "read_uncommitted")
            assert all(again[event_id] == 2 for event_id in batch), {event_id: again[event_id] for event_id in batch}
    finally:
        assert worker.stop() == 0, f"worker did not drain and exit cleanly; see {worker.log_path}"
