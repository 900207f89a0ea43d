"""Verdict first, analysis after, exactly once: a real worker (Kafka, Triton, PostgreSQL) killed with -9
while analyses are pending, then restarted; every flagged verdict ends with one analysis in the
audit store and one on moderation.analyses (read_committed), the same in both."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from devtools.demo.replay import WorkerProcess, worker_environment
from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.tables import AnalysisRow
from guardstream.records import Analysis, AnalysisStatus, Verdict
from guardstream.serde.codec import AvroDecoder, encode_record
from guardstream.settings import Settings, TopicSettings
from tests.support.run_events import run_events
from workers.kafka_clients import build_producer, build_reader

pytestmark = pytest.mark.integration

EVENTS = 48


class Outputs:
    """Everything committed on the flagged and analyses topics, read as a downstream consumer does."""

    def __init__(self, settings: Settings, topics: TopicSettings) -> None:
        self._topics = topics
        self._reader = build_reader(settings.kafka, f"test-analysis-reader-{uuid.uuid4().hex[:8]}")
        self._reader.subscribe([topics.flagged, topics.analyses])
        self._decoder = AvroDecoder()
        self.flagged: list[Verdict] = []
        self.analyses: list[Analysis] = []

    def read(self, seconds: float, until: object = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (callable(until) and until()):
            for message in self._reader.consume(num_messages=500, timeout=0.5):
                if message.error():
                    continue
                if message.topic() == self._topics.flagged:
                    self.flagged.append(self._decoder.decode(Verdict, message.value()))
                else:
                    self.analyses.append(self._decoder.decode(Analysis, message.value()))

    def close(self) -> None:
        self._reader.close()


def test_a_worker_killed_while_analyses_are_pending_leaves_exactly_one_analysis_per_flagged_verdict(
    base_settings: Settings, triton_ready: None, fresh_topics: TopicSettings, postgres_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    events = run_events(run, EVENTS, seed=23)
    policy = tmp_path / "flag-everything.yaml"  # every verdict is flagged: all need an analysis
    policy.write_text('version: "flag-everything"\nunsafe_threshold: 0.5\nreview_threshold: 0.0\n', encoding="utf-8")
    env = {
        **worker_environment(base_settings, fresh_topics, postgres_url, f"test-analysis-{run}", analysis=True),
        "GUARDSTREAM_POLICY__FILE": str(policy),
        "GUARDSTREAM_ANALYSIS__BATCH_MAX_SIZE": "4",
    }
    outputs = Outputs(base_settings, fresh_topics)
    worker = WorkerProcess(f"analysis-{run}", tmp_path / "first.log", env=env)
    restarted: WorkerProcess | None = None
    try:
        producer = build_producer(base_settings.kafka)
        for event in events:
            producer.produce(fresh_topics.chat_events, value=encode_record(event), key=event.conversation_id.encode())
        assert producer.flush(30) == 0

        outputs.read(180, until=lambda: len(outputs.analyses) >= 1)
        assert outputs.analyses, f"no analysis committed in time; see {worker.log_path}"
        worker.process.kill()  # SIGKILL: no drain, a transaction may be open, a batch half explained
        worker.process.wait(30)
        pending = EVENTS - len({a.event_id for a in outputs.analyses})
        assert pending > 0, "every analysis was already committed: the kill proved nothing"

        restarted = WorkerProcess(f"analysis-{run}", tmp_path / "second.log", env=env)  # same id: fences the dead one
        wanted = {event.event_id for event in events}
        outputs.read(300, until=lambda: {a.event_id for a in outputs.analyses} >= wanted)
        outputs.read(5)  # a duplicate would come after the last expected analysis

        assert Counter(v.event_id for v in outputs.flagged) == Counter(wanted), "every verdict is flagged once"
        per_event = Counter(a.event_id for a in outputs.analyses)
        assert set(per_event) == wanted, f"missing analyses; see {restarted.log_path}"
        assert max(per_event.values()) == 1, f"duplicate analyses: {[e for e, n in per_event.items() if n > 1]}"
        assert all(a.analysis if a.status is AnalysisStatus.EXPLAINED else a.reason for a in outputs.analyses)

        engine = build_engine(postgres_url)
        migrate(engine)
        with engine.connect() as connection:
            rows = connection.execute(select(AnalysisRow).where(AnalysisRow.event_id.in_(sorted(wanted)))).all()
        assert len(rows) == EVENTS  # the primary key makes a second row impossible; none is missing
        on_topic = {a.event_id: (a.status.value, a.analysis, a.reason, a.model_version) for a in outputs.analyses}
        assert {row.event_id: (row.status, row.analysis, row.reason, row.model_version) for row in rows} == on_topic
        print(
            f"pending at kill: {pending} of {EVENTS}; explained: {sum(a.status is AnalysisStatus.EXPLAINED for a in outputs.analyses)}"
        )
    finally:
        outputs.close()
        if worker.alive():
            worker.process.kill()
        worker.stop()
        if restarted is not None:
            assert restarted.stop() == 0, f"restarted worker did not drain and exit cleanly; see {restarted.log_path}"
