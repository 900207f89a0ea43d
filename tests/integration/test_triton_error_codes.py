"""A model that fails with UNAVAILABLE and INTERNAL, then recovers, costs retries, never records."""

from __future__ import annotations

import re
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.demo.replay import WorkerProcess, worker_environment
from guardstream.paths import repository_root
from guardstream.serde.codec import encode_record
from guardstream.settings import Settings, TopicSettings
from tests.integration.test_worker_end_to_end import read_outputs
from tests.integration.test_worker_telemetry import free_port, get, samples
from tests.support.run_events import run_events
from workers.kafka_clients import build_producer
from workers.triton_client import build_grpc_client

pytestmark = pytest.mark.integration

FLAKY_MODEL = Path(__file__).resolve().parents[1] / "support" / "flaky_guard"
SERVED = repository_root() / "triton_models"
FAILURES = re.compile(r'key: "fail_(\w+)" value: \{ string_value: "(\d+)" \}')
FAILING_REQUESTS = {
    status: int(count) for status, count in FAILURES.findall((FLAKY_MODEL / "config.pbtxt").read_text())
}
"""Requests the flaky guard fails, by the status it answers them with: {"unavailable": n, "internal": m}."""


@pytest.fixture()
def flaky_model(base_settings: Settings, triton_ready: None) -> Iterator[str]:
    """The flaky guard, copied into the served repository under a name of its own and loaded."""
    name = f"guard_flaky_{uuid.uuid4().hex[:8]}"
    folder = SERVED / name
    shutil.copytree(FLAKY_MODEL, folder, ignore=shutil.ignore_patterns("__pycache__"))
    client = build_grpc_client(base_settings.triton)
    try:
        client.load_model(name)
        yield name
    finally:
        client.unload_model(name)
        client.close()
        shutil.rmtree(folder)


def test_unavailable_and_internal_failures_are_retried_so_no_record_is_dead_lettered(
    base_settings: Settings, fresh_topics: TopicSettings, flaky_model: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    events = run_events(run, 120, seed=13)
    producer = build_producer(base_settings.kafka)
    for event in events:
        producer.produce(fresh_topics.chat_events, encode_record(event), key=event.conversation_id.encode())
    assert producer.flush(30) == 0
    port = free_port()
    worker = WorkerProcess(
        f"flaky-{run}",
        tmp_path / "worker.log",
        metrics_port=port,
        env={
            **worker_environment(base_settings, fresh_topics, f"sqlite:///{tmp_path / 'audit.db'}", f"flaky-{run}"),
            "GUARDSTREAM_TRITON__MODEL_NAME": flaky_model,
            "GUARDSTREAM_TRITON__FAST_MODEL_NAME": "",
            # small parts: had a failure been blamed on the records, halving would reach single
            # records (and the dead-letter topic) within a few failures
            "GUARDSTREAM_WORKER__BATCH_MAX_SIZE": "4",
            "GUARDSTREAM_TRITON__RETRY_INITIAL_S": "0.05",
            "GUARDSTREAM_TRITON__RETRY_MAX_S": "0.5",
        },
    )
    try:
        verdicts, letters = read_outputs(base_settings, fresh_topics, len(events), timeout_s=45)
        exposition = get(f"http://127.0.0.1:{port}/metrics")[1]
    finally:
        assert worker.stop() == 0, f"see {worker.log_path}"

    assert [(letter.kind, letter.reason) for letter in letters] == []
    counts = Counter(verdict.event_id for verdict in verdicts)
    assert set(counts) == {event.event_id for event in events}, f"see {worker.log_path}"
    assert max(counts.values()) == 1, "an event got more than one verdict"
    # every scripted failure reached the worker, and each was retried, none split
    retries = {
        re.search(r'reason="(\w+)"', labels).group(1): value  # type: ignore[union-attr]
        for labels, value in samples(exposition, "guardstream_inference_retries_total").items()
    }
    assert retries == FAILING_REQUESTS, f"see {worker.log_path}"
