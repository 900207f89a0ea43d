"""A real worker on a real PostgreSQL audit store fed records at and beyond the limits of its fields:
what ingestion accepts is stored, what the store refuses for its content is dead-lettered, and the
worker never exits because of one record."""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from devtools.demo.replay import WorkerProcess, worker_environment
from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.tables import DeadLetterRow, VerdictRow
from guardstream.limits import KEY_BYTES
from guardstream.records import ChatEvent
from guardstream.serde.codec import encode_record
from guardstream.serde.json_codec import chat_event_to_json
from guardstream.settings import Settings, TopicSettings
from tests.integration.test_worker_end_to_end import read_outputs
from tests.support.run_events import run_events
from tests.support.stack import postgres_schema
from workers.kafka_clients import build_producer

pytestmark = pytest.mark.integration

KEY = b"one-partition"
"""Every record of a test shares a key, so they share a partition: one stuck record would block the rest."""


def chat_events(run: str, count: int) -> list[ChatEvent]:
    return run_events(run, count, seed=19)


def sized(prefix: str, length: int) -> str:
    """``prefix`` padded to exactly ``length`` characters with CJK, emoji and a path."""
    return (prefix + "/../%2F-长😀" * length)[:length]


def produce(settings: Settings, topic: str, events: list[ChatEvent]) -> None:
    producer = build_producer(settings.kafka)
    for index, event in enumerate(events):
        value = chat_event_to_json(event) if index % 2 else encode_record(event)
        producer.produce(topic, value=value, key=KEY)
    assert producer.flush(30) == 0


@pytest.fixture()
def audit_url() -> Iterator[str]:
    with postgres_schema("hostile") as url:
        yield url


def start_worker(settings: Settings, topics: TopicSettings, audit_url: str, log: Path) -> WorkerProcess:
    run = uuid.uuid4().hex[:8]
    return WorkerProcess(
        f"hostile-{run}", log, env=worker_environment(settings, topics, audit_url, f"test-hostile-{run}")
    )


def test_ids_up_to_the_ingestion_limit_get_verdicts_and_audit_rows_on_postgresql(
    base_settings: Settings, triton_ready: None, fresh_topics: TopicSettings, audit_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    before, after = chat_events(run, 10)[:5], chat_events(f"{run}-after", 5)
    base = before[0]
    at_limit = [
        dataclasses.replace(base, event_id=sized(f"{run}-e250", 250)),  # the crash loop of issue 19
        dataclasses.replace(base, event_id=sized(f"{run}-e256", 256)),
        dataclasses.replace(base, event_id=f"{run}-c256", conversation_id=sized("c", 256)),
        dataclasses.replace(base, event_id=f"{run}-u256", user_id=sized("u", 256)),
    ]
    too_long = dataclasses.replace(base, event_id=sized(f"{run}-e257", 257))
    worker = start_worker(base_settings, fresh_topics, audit_url, tmp_path / "worker.log")
    try:
        produce(base_settings, fresh_topics.chat_events, [*before, *at_limit, too_long, *after])
        accepted = [*before, *at_limit, *after]

        verdicts, letters = read_outputs(base_settings, fresh_topics, len(accepted) + 1, timeout_s=120)

        assert sorted(v.event_id for v in verdicts) == sorted(e.event_id for e in accepted), f"see {worker.log_path}"
        assert [(letter.kind, letter.event_id) for letter in letters] == [("field_too_long", None)]
        with build_engine(audit_url).connect() as connection:
            stored = connection.execute(
                select(VerdictRow.event_id, VerdictRow.conversation_id, VerdictRow.user_id)
            ).all()
            assert connection.scalar(select(func.count()).select_from(DeadLetterRow)) == 1
        assert sorted(tuple(row) for row in stored) == sorted(
            (e.event_id, e.conversation_id, e.user_id) for e in accepted
        )
        assert worker.alive(), f"the worker exited; see {worker.log_path}"
    finally:
        assert worker.stop() == 0, f"see {worker.log_path}"


REFUSALS = {
    # A column narrower than ingestion allows: StringDataRightTruncation (a DataError).
    "data_error": ("ALTER TABLE verdicts ALTER COLUMN text TYPE varchar(300)", {"text": "长" * 400}),
    # A rule of the database's own: CheckViolation (an IntegrityError).
    "constraint": (
        "ALTER TABLE verdicts ADD CONSTRAINT refuses_one_user CHECK (user_id <> 'refused-by-the-store')",
        {"user_id": "refused-by-the-store"},
    ),
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_a_record_the_database_refuses_is_dead_lettered_and_its_neighbours_are_stored(
    refusal: str,
    base_settings: Settings,
    triton_ready: None,
    fresh_topics: TopicSettings,
    audit_url: str,
    tmp_path: Path,
) -> None:
    statement, changes = REFUSALS[refusal]
    engine = build_engine(audit_url)
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(text(statement))
    run = uuid.uuid4().hex[:8]
    events = chat_events(run, 41)
    refused = dataclasses.replace(events[20], **changes)
    events[20] = refused
    late = chat_events(f"{run}-late", 1)
    worker = start_worker(base_settings, fresh_topics, audit_url, tmp_path / "worker.log")
    try:
        produce(base_settings, fresh_topics.chat_events, events)
        verdicts, letters = read_outputs(base_settings, fresh_topics, len(events), timeout_s=120)

        assert sorted(v.event_id for v in verdicts) == sorted(e.event_id for e in events if e is not refused), (
            f"see {worker.log_path}"
        )
        assert [(letter.kind, letter.event_id) for letter in letters] == [("audit_rejected", refused.event_id)]
        assert "audit store refused" in letters[0].reason
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(VerdictRow)) == len(events) - 1
            assert connection.scalar(select(DeadLetterRow.event_id)) == refused.event_id

        produce(base_settings, fresh_topics.chat_events, late)  # the partition moved on
        verdicts, _ = read_outputs(base_settings, fresh_topics, len(events) + 1, timeout_s=60)
        assert late[0].event_id in {v.event_id for v in verdicts}
        assert worker.alive(), f"the worker exited; see {worker.log_path}"
    finally:
        assert worker.stop() == 0, f"see {worker.log_path}"
        engine.dispose()


def test_a_poison_record_with_a_key_too_large_for_the_dlq_is_dead_lettered_and_the_worker_stays_up(
    base_settings: Settings, triton_ready: None, fresh_topics: TopicSettings, audit_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    [after] = chat_events(run, 1)
    worker = start_worker(base_settings, fresh_topics, audit_url, tmp_path / "worker.log")
    try:
        producer = build_producer(base_settings.kafka, **{"message.max.bytes": 4 * 1024 * 1024})
        producer.produce(fresh_topics.chat_events, value=b"not an event", key=b"k" * (2 * 1024 * 1024))
        producer.produce(fresh_topics.chat_events, value=encode_record(after), key=KEY)
        assert producer.flush(30) == 0

        verdicts, letters = read_outputs(base_settings, fresh_topics, 2, timeout_s=90)

        assert [v.event_id for v in verdicts] == [after.event_id], f"see {worker.log_path}"
        assert [(letter.kind, len(letter.key or b"")) for letter in letters] == [("key_too_large", KEY_BYTES)]
        assert worker.alive(), f"the worker exited; see {worker.log_path}"
    finally:
        assert worker.stop() == 0, f"see {worker.log_path}"


def test_a_record_whose_header_name_is_not_utf8_is_dead_lettered_and_the_worker_stays_up(
    base_settings: Settings, triton_ready: None, fresh_topics: TopicSettings, audit_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    odd, after = chat_events(run, 2)
    (tmp_path / "odd.avro").write_bytes(encode_record(odd))
    worker = start_worker(base_settings, fresh_topics, audit_url, tmp_path / "worker.log")
    try:
        # confluent-kafka cannot send such a header name; Debian's kcat (and other clients) can.
        subprocess.run(
            ["kcat", "-P", "-b", base_settings.kafka.bootstrap_servers, "-t", fresh_topics.chat_events,
             "-k", KEY.decode(), "-H", b"\xff\xfe=v", str(tmp_path / "odd.avro")],
            check=True, timeout=60,
        )  # fmt: skip
        produce(base_settings, fresh_topics.chat_events, [after])

        verdicts, letters = read_outputs(base_settings, fresh_topics, 2, timeout_s=90)

        assert [v.event_id for v in verdicts] == [after.event_id], f"see {worker.log_path}"
        assert [letter.kind for letter in letters] == ["invalid_headers"]
        assert worker.alive(), f"the worker exited; see {worker.log_path}"
    finally:
        assert worker.stop() == 0, f"see {worker.log_path}"
