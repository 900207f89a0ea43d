"""Streamed replies through a real stream worker (Kafka, Triton's stream models, PostgreSQL), killed
with -9 while streams are open and restarted: every stream ends with exactly one final verdict, on
moderation.verdicts and in the audit store, and its provisional decisions are each produced once,
in order, never changed without a retraction."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from devtools.demo.replay import WorkerProcess
from devtools.streams.measure import contract_problems
from devtools.streams.replies import generate_replies
from devtools.streams.session import (
    chunk_records,
    create_stream_topics,
    delete_stream_topics,
    produce_chunks,
    read_outputs,
    start_stream_worker,
    stream_worker_environment,
    wait_for_finals,
)
from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.tables import VerdictRow
from guardstream.settings import Settings
from guardstream.streaming.records import StreamVerdict

pytestmark = pytest.mark.integration

STREAMS = 12


def test_a_stream_worker_killed_while_streams_are_open_loses_and_doubles_nothing(
    base_settings: Settings, triton_ready: None, stream_models_ready: None, postgres_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    replies = list(generate_replies(STREAMS, seed=7, run_id=run))
    chunks = chunk_records(replies, open_streams=6, now_ms=int(time.time() * 1000))
    topics = create_stream_topics(base_settings.kafka, f"test.streams.{run}")
    env = stream_worker_environment(base_settings, topics, postgres_url, f"test-streams-{run}")
    worker_id = f"streams-{run}"
    first: WorkerProcess = start_stream_worker(env, tmp_path, worker_id)
    second: WorkerProcess | None = None
    try:
        half = len(chunks) // 2
        produce_chunks(base_settings.kafka, topics.reply_chunks, chunks[:half])
        deadline = time.monotonic() + 180
        while len(read_outputs(base_settings.kafka, topics).records) < half // 3:
            assert first.alive(), f"the stream worker exited; see {first.log_path}"
            assert time.monotonic() < deadline, f"no stream verdicts in time; see {first.log_path}"
            time.sleep(0.3)
        first.process.kill()  # SIGKILL: a transaction may be open, streams are half read
        first.process.wait(30)
        before = read_outputs(base_settings.kafka, topics)
        open_at_kill = {r.stream_id for r in before.records} - {v.event_id for v in before.finals}
        assert open_at_kill, "no stream was open at the kill: it proved nothing"

        produce_chunks(base_settings.kafka, topics.reply_chunks, chunks[half:])
        second = start_stream_worker(env, tmp_path, worker_id)  # same id: fences the dead one
        outputs = wait_for_finals(base_settings.kafka, topics, STREAMS, [second], timeout_s=240)
        time.sleep(2)
        outputs = read_outputs(base_settings.kafka, topics)  # a duplicate would come after the last final

        assert contract_problems(replies, outputs) == []
        assert Counter(v.event_id for v in outputs.finals) == Counter(r.stream_id for r in replies)
        finals = {v.event_id: v for v in outputs.finals}
        for reply in replies:
            [last] = [r for r in outputs.by_stream()[reply.stream_id] if isinstance(r, StreamVerdict) and r.final]
            assert last.chars == len(reply.text)
        assert "open streams restored" in second.log_path.read_text()

        engine = build_engine(postgres_url)
        migrate(engine)
        with engine.connect() as connection:
            rows = connection.execute(select(VerdictRow).where(VerdictRow.event_id.in_(sorted(finals)))).all()
        assert {row.event_id: row.label for row in rows} == {k: v.label.value for k, v in finals.items()}
        print(f"streams open at the kill: {len(open_at_kill)} of {STREAMS}")
    finally:
        if first.alive():
            first.process.kill()
        first.stop()
        if second is not None:
            assert second.stop() == 0, f"the restarted stream worker did not exit cleanly; see {second.log_path}"
        delete_stream_topics(base_settings.kafka, topics)
