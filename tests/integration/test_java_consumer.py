"""A consumer in another language reads what a real worker wrote: examples/java-consumer (kafka-clients,
read_committed; Apache Avro's BinaryMessageDecoder) against the real broker, checked one for one
against what the Python side decodes from the same topic."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from devtools.demo.replay import WorkerProcess, worker_environment
from guardstream.records import Verdict
from guardstream.serde import default_schema_set, encode_record
from guardstream.serde.codec import AvroDecoder
from guardstream.serde.single_object import encode
from guardstream.settings import Settings, TopicSettings
from tests.support.run_events import run_events
from tests.support.topic_reading import ReadRecord, read_records
from tests.unit.escalation.factory import make_verdict
from workers.kafka_clients import build_producer, build_reader, build_transactional_producer

# One lane for the module: both tests build the consumer through make (a no-op once built).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("java_consumer")]

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "examples" / "java-consumer" / "target"
EVENTS = 60


@pytest.fixture(scope="module")
def java_consumer() -> list[str]:
    """The command that runs the consumer, built by `make java-consumer` (make test builds it beforehand)."""
    build = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "java-consumer"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, f"make java-consumer failed:\n{build.stdout[-3000:]}{build.stderr[-3000:]}"
    classpath = f"{TARGET / 'classes'}:{TARGET / 'dependency'}/*"
    return ["java", "-cp", classpath, "dev.guardstream.examples.VerdictConsumer"]


@dataclasses.dataclass(frozen=True)
class JavaRun:
    returncode: int
    verdicts: list[dict[str, Any]]
    """One JSON line per verdict: topic, partition, offset, key and the decoded ``verdict``."""
    summary: dict[str, Any] | None
    stderr: str


def run_java(command: list[str], settings: Settings, topic: str, group: str) -> JavaRun:
    done = subprocess.run(
        [
            *command,
            *("--bootstrap-servers", settings.kafka.bootstrap_servers, "--topic", topic, "--group", group),
            *("--schema", str(REPO / "schemas" / "verdict.avsc"), "--timeout-s", "60"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    summaries = [line["summary"] for line in lines if "summary" in line]
    return JavaRun(
        done.returncode,
        [line for line in lines if "summary" not in line],
        summaries[0] if summaries else None,
        done.stderr,
    )


def wait_for_verdicts(settings: Settings, topic: str, want: int, worker: WorkerProcess) -> list[ReadRecord]:
    deadline = time.monotonic() + 180
    while True:
        records = read_records(settings, topic, "read_committed")
        if len(records) >= want:
            return records
        assert worker.alive(), f"the worker exited; see {worker.log_path}"
        assert time.monotonic() < deadline, f"{len(records)} of {want} verdicts within 180 s; see {worker.log_path}"
        time.sleep(1)


def as_python_sees_it(topic: str, records: list[ReadRecord]) -> dict[tuple[int, int], dict[str, Any]]:
    """Each record as the Java consumer should print it, from guardstream's own decoder."""
    decoder = AvroDecoder()
    return {
        (record.partition, record.offset): {
            "topic": topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": record.key.decode() if record.key is not None else None,
            "verdict": decoder.decode(Verdict, record.value).to_avro(),
        }
        for record in records
    }


def test_java_consumer_reads_each_verdict_of_a_real_worker_as_python_does_and_no_aborted_one(
    base_settings: Settings,
    triton_ready: None,
    fresh_topics: TopicSettings,
    postgres_url: str,
    java_consumer: list[str],
    tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    events = run_events(run, EVENTS, seed=14)
    worker = WorkerProcess(
        f"java-{run}",
        tmp_path / "worker.log",
        env=worker_environment(base_settings, fresh_topics, postgres_url, f"test-group-{run}"),
    )
    try:
        producer = build_producer(base_settings.kafka)
        for event in events:
            producer.produce(fresh_topics.chat_events, key=event.conversation_id.encode(), value=encode_record(event))
        assert producer.flush(30) == 0
        judged = wait_for_verdicts(base_settings, fresh_topics.verdicts, EVENTS, worker)
    finally:
        assert worker.stop() == 0, f"worker did not drain and exit cleanly; see {worker.log_path}"

    # A verdict in a transaction that is aborted: on the topic, seen read_uncommitted, never read_committed.
    aborted = dataclasses.replace(AvroDecoder().decode(Verdict, judged[0].value), event_id=f"{run}-aborted")
    transaction = build_transactional_producer(base_settings.kafka, f"test-abort-{run}")
    transaction.init_transactions(30)
    transaction.begin_transaction()
    transaction.produce(fresh_topics.verdicts, key=judged[0].key, value=encode_record(aborted))
    transaction.flush(30)
    transaction.abort_transaction(30)
    uncommitted = read_records(base_settings, fresh_topics.verdicts, "read_uncommitted")
    assert encode_record(aborted) in {record.value for record in uncommitted}

    committed = read_records(base_settings, fresh_topics.verdicts, "read_committed")
    java = run_java(java_consumer, base_settings, fresh_topics.verdicts, f"test-java-{run}")

    assert java.returncode == 0, java.stderr
    assert {(line["partition"], line["offset"]): line for line in java.verdicts} == as_python_sees_it(
        fresh_topics.verdicts, committed
    )
    event_ids = Counter(line["verdict"]["event_id"] for line in java.verdicts)
    assert event_ids == Counter(event.event_id for event in events), "not exactly one verdict per sent event"
    assert all(line["key"] == line["verdict"]["conversation_id"] for line in java.verdicts)
    labels = Counter(line["verdict"]["label"] for line in java.verdicts)
    assert labels["unsafe"] + labels["review"] > 0, f"only safe verdicts ({labels}): nothing flagged was read"
    assert java.summary == {"verdicts": EVENTS, "labels": dict(labels), "complete": True}


def test_java_consumer_decodes_an_older_writer_schema_and_stops_at_a_value_it_cannot_decode(
    base_settings: Settings, fresh_topics: TopicSettings, java_consumer: list[str]
) -> None:
    """A verdict written with schemas/history/verdict/v1.avsc resolves into today's reader schema (the
    fields added since take their defaults); a value with an unknown fingerprint ends the run with
    status 1, after the group committed what was printed (a next run starts at that value)."""
    topic, group = fresh_topics.verdicts, f"test-java-{uuid.uuid4().hex[:8]}"
    schemas = default_schema_set()
    v1 = next(version for version in schemas.by_fingerprint.values() if version.label == "history/verdict/v1.avsc")
    old = make_verdict("old-writer", label="review")
    current = make_verdict("current-writer", label="unsafe", categories={"违法犯罪": 0.8})
    unknown_writer = b"\xc3\x01" + bytes(8) + b"\x00"
    producer = build_producer(base_settings.kafka)
    for value in (encode(v1, old.to_avro()), encode_record(current), unknown_writer):
        producer.produce(topic, key=b"c1", value=value, partition=0)
    assert producer.flush(30) == 0

    first = run_java(java_consumer, base_settings, topic, group)
    assert first.returncode == 1, first.stderr
    assert [line["verdict"] for line in first.verdicts] == [old.to_avro(), current.to_avro()]
    assert [line["offset"] for line in first.verdicts] == [0, 1]
    assert f"{topic}[0] offset=2: cannot decode" in first.stderr
    assert "MissingSchemaException" in first.stderr

    reader = build_reader(base_settings.kafka, group)
    try:
        assert [tp.offset for tp in reader.committed([TopicPartition(topic, 0)], timeout=10)] == [2]
    finally:
        reader.close()
