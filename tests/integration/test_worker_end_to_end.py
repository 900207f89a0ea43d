"""A real worker between a real broker and a real Triton server, fed by an independent client (kcat)."""

from __future__ import annotations

import dataclasses
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from devtools.demo.replay import WorkerProcess, worker_environment
from devtools.loadgen.chat_stream import poison_payloads
from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.tables import VerdictRow
from guardstream.records import ChatEvent, DeadLetter, Verdict
from guardstream.serde.codec import AvroDecoder, encode_record
from guardstream.settings import Settings, TopicSettings
from tests.support.run_events import run_events
from workers.kafka_clients import build_producer, build_reader

pytestmark = pytest.mark.integration

BROKER_LIMIT = 4 * 1024 * 1024 - 1024


def kcat_produce(bootstrap: str, topic: str, key: str, files: list[Path]) -> None:
    """One message per file, produced by Debian's kcat (not our code)."""
    subprocess.run(
        ["kcat", "-P", "-b", bootstrap, "-t", topic, "-k", key, "-X", "message.max.bytes=4194304", *map(str, files)],
        check=True,
        timeout=60,
    )


def read_outputs(
    settings: Settings, topics: TopicSettings, want: int, timeout_s: float
) -> tuple[list[Verdict], list[DeadLetter]]:
    reader = build_reader(settings.kafka, f"test-reader-{uuid.uuid4().hex[:8]}")
    reader.subscribe([topics.verdicts, topics.dlq])
    decoder = AvroDecoder()
    verdicts: list[Verdict] = []
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(verdicts) + len(letters) < want and time.monotonic() < deadline:
            for message in reader.consume(num_messages=500, timeout=0.5):
                if message.error():
                    continue
                if message.topic() == topics.verdicts:
                    verdicts.append(decoder.decode(Verdict, message.value()))
                else:
                    letters.append(decoder.decode(DeadLetter, message.value()))
        # Keep reading a little longer: a duplicate would arrive after the expected count.
        settle = time.monotonic() + 3
        while time.monotonic() < settle:
            for message in reader.consume(num_messages=500, timeout=0.5):
                if not message.error() and message.topic() == topics.verdicts:
                    verdicts.append(decoder.decode(Verdict, message.value()))
    finally:
        reader.close()
    return verdicts, letters


def write_events(folder: Path, events: list[ChatEvent]) -> dict[str, list[Path]]:
    """Avro single-object files grouped by conversation (the message key)."""
    by_key: dict[str, list[Path]] = {}
    for event in events:
        path = folder / f"{event.event_id}.avro"
        path.write_bytes(encode_record(event))
        by_key.setdefault(event.conversation_id, []).append(path)
    return by_key


def test_kcat_events_get_one_verdict_and_one_audit_row_and_poison_goes_to_dlq(
    base_settings: Settings, triton_ready: None, fresh_topics: TopicSettings, postgres_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    events = run_events(run, 120, seed=11)
    # kcat sends no empty message from a file, and the broker itself refuses records over its
    # 4 MiB limit, so those two kinds never reach a worker this way.
    poison = [(kind, payload) for kind, payload in poison_payloads(seed=3) if 0 < len(payload) <= BROKER_LIMIT]
    worker = WorkerProcess(
        f"kcat-{run}",
        tmp_path / "worker.log",
        env=worker_environment(base_settings, fresh_topics, postgres_url, f"test-group-{run}"),
    )
    try:
        bootstrap = base_settings.kafka.bootstrap_servers
        for key, files in write_events(tmp_path, events).items():
            kcat_produce(bootstrap, fresh_topics.chat_events, key, files)
        poison_files = []
        for index, (kind, payload) in enumerate(poison):
            path = tmp_path / f"poison-{index}-{kind}.bin"
            path.write_bytes(payload)
            poison_files.append(path)
        kcat_produce(bootstrap, fresh_topics.chat_events, "poison", poison_files)
        tombstone = build_producer(base_settings.kafka)  # a record with no value at all
        tombstone.produce(fresh_topics.chat_events, value=None, key=b"poison")
        assert tombstone.flush(10) == 0
        poison.append(("null_value", b""))

        verdicts, letters = read_outputs(base_settings, fresh_topics, len(events) + len(poison), timeout_s=180)

        counts = Counter(verdict.event_id for verdict in verdicts)
        assert set(counts) == {event.event_id for event in events}, f"see {worker.log_path}"
        assert max(counts.values()) == 1, "an event got more than one verdict"
        assert all(0.0 <= verdict.p_unsafe <= 1.0 and verdict.model_version for verdict in verdicts)

        assert len(letters) == len(poison)
        assert sorted(letter.payload for letter in letters) == sorted(payload[:65_536] for _, payload in poison)
        assert all(letter.reason and letter.kind for letter in letters)

        engine = build_engine(postgres_url)
        migrate(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                select(VerdictRow.event_id).where(VerdictRow.event_id.in_([e.event_id for e in events]))
            ).all()
        assert sorted(row.event_id for row in rows) == sorted(event.event_id for event in events)

        # The worker is still consuming: a new event after all that poison gets its verdict.
        late = dataclasses.replace(events[0], event_id=f"{run}-late", created_at_ms=int(time.time() * 1000))
        kcat_produce(
            bootstrap,
            fresh_topics.chat_events,
            late.conversation_id,
            next(iter(write_events(tmp_path, [late]).values())),
        )
        verdicts, _ = read_outputs(base_settings, fresh_topics, len(events) + len(poison) + 1, timeout_s=60)
        assert f"{run}-late" in {verdict.event_id for verdict in verdicts}
        assert worker.alive()
    finally:
        assert worker.stop() == 0, f"worker did not drain and exit cleanly; see {worker.log_path}"
