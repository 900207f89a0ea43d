"""Policies for many teams on a real worker (Kafka, Triton, PostgreSQL): tenants' own thresholds,
an observe-only shadow policy, and blocklist changes that reach the worker while it runs."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from devtools.demo.replay import WorkerProcess, worker_environment
from guardstream.audit.blocklist_store import BlocklistStore
from guardstream.audit.engine import build_engine
from guardstream.audit.store import AuditStore
from guardstream.blocklist.model import BlocklistTerm
from guardstream.guard.categories import HarmCategory
from guardstream.policy import load_policy_file
from guardstream.records import ChatEvent, Decider, Verdict, VerdictLabel
from guardstream.serde.codec import AvroDecoder, encode_record
from guardstream.settings import Settings, TopicSettings
from tests.support.run_events import run_events
from tests.support.stack import postgres_schema
from workers.kafka_clients import build_producer, build_reader, build_settings_admin_client

pytestmark = pytest.mark.integration

ACTING = """\
version: acting-1
unsafe_threshold: 0.5
review_threshold: 0.35
policies:
  - id: strict-tenant
    when: {tenant: strict}
    version: strict-3
    unsafe_threshold: 0.0
    review_threshold: 0.0
  - id: lenient-tenant
    when: {tenant: lenient}
    unsafe_threshold: 1.0
    review_threshold: 1.0
"""
SHADOW = """\
version: shadow-9
unsafe_threshold: 0.0
review_threshold: 0.0
"""
TERM = "蓝莓派对暗号"
"""A term no generated chat holds; its traditional-script spelling below is a variant of it."""
TERM_VARIANT = "藍莓派對暗號"


@dataclass
class RunningWorker:
    settings: Settings
    topics: TopicSettings
    audit_url: str
    worker: WorkerProcess
    reader_group: str

    def send(self, events: list[ChatEvent]) -> None:
        producer = build_producer(self.settings.kafka)
        for event in events:
            producer.produce(self.topics.chat_events, value=encode_record(event), key=event.conversation_id.encode())
        assert producer.flush(30) == 0

    def verdicts(self, event_ids: set[str], topic: str | None = None, timeout_s: float = 120) -> list[Verdict]:
        """Every verdict on ``topic`` (default: the verdicts topic) for these events, read until each
        has one and a little beyond (a second verdict would arrive after the first)."""
        reader = build_reader(self.settings.kafka, f"{self.reader_group}-{uuid.uuid4().hex[:6]}")
        reader.subscribe([topic or self.topics.verdicts])
        decoder, found = AvroDecoder(), []
        deadline, settle = time.monotonic() + timeout_s, None
        try:
            while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
                for message in reader.consume(num_messages=500, timeout=0.5):
                    if message.error() is None:
                        verdict = decoder.decode(Verdict, message.value())
                        if verdict.event_id in event_ids:
                            found.append(verdict)
                if settle is None and {v.event_id for v in found} >= event_ids:
                    settle = time.monotonic() + 3
                assert self.worker.alive(), f"the worker exited; see {self.worker.log_path}"
        finally:
            reader.close()
        return found


@pytest.fixture(scope="module")
def running(
    base_settings: Settings, triton_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningWorker]:
    folder = tmp_path_factory.mktemp("policies")
    run = uuid.uuid4().hex[:10]
    topics = TopicSettings(
        chat_events=f"test.chat.events.{run}", verdicts=f"test.verdicts.{run}", flagged=f"test.flagged.{run}",
        dlq=f"test.dlq.{run}", feedback=f"test.feedback.{run}", actions=f"test.actions.{run}",
        analyses=f"test.analyses.{run}",
    )  # fmt: skip
    created = [topics.chat_events, topics.verdicts, topics.flagged, topics.dlq]
    admin = build_settings_admin_client(base_settings.kafka)
    for future in admin.create_topics([NewTopic(name, num_partitions=2) for name in created]).values():
        future.result(timeout=30)
    (folder / "acting.yaml").write_text(ACTING, encoding="utf-8")
    (folder / "shadow.yaml").write_text(SHADOW, encoding="utf-8")
    with postgres_schema("policies") as audit_url:
        env = worker_environment(base_settings, topics, audit_url, f"test-policies-{run}") | {
            "GUARDSTREAM_POLICY__FILE": str(folder / "acting.yaml"),
            "GUARDSTREAM_POLICY__SHADOW_FILE": str(folder / "shadow.yaml"),
            "GUARDSTREAM_POLICY__BLOCKLIST_REFRESH_S": "0.5",
        }
        worker = WorkerProcess(f"policies-{run}", folder / "worker.log", env=env)
        try:
            yield RunningWorker(base_settings, topics, audit_url, worker, f"test-policies-reader-{run}")
        finally:
            worker.stop()
            for future in admin.delete_topics(created, operation_timeout=30).values():
                future.result(timeout=30)


def tenant_events(run: str, count: int, tenant: str, seed: int) -> list[ChatEvent]:
    return [
        dataclasses.replace(event, metadata={**event.metadata, "tenant": tenant, "channel": "lobby"})
        for event in run_events(f"{run}-{tenant}", count, seed)
    ]


def test_each_tenant_gets_its_own_thresholds_and_the_shadow_policy_writes_no_verdict(running: RunningWorker) -> None:
    run = uuid.uuid4().hex[:8]
    events = [
        *tenant_events(run, 20, "strict", seed=5),
        *tenant_events(run, 20, "lenient", seed=6),
        *tenant_events(run, 20, "other", seed=7),
    ]
    running.send(events)
    ids = {event.event_id for event in events}
    verdicts = running.verdicts(ids)
    assert sorted(v.event_id for v in verdicts) == sorted(ids), "one verdict per event, no more"

    acting = load_policy_file(Path(running.worker.log_path).parent / "acting.yaml")
    tenant_of = {event.event_id: event.metadata["tenant"] for event in events}
    expected_policy = {"strict": ("strict-tenant", "strict-3"), "lenient": ("lenient-tenant", "acting-1"),
                       "other": ("global", "acting-1")}  # fmt: skip
    for verdict in verdicts:
        tenant = tenant_of[verdict.event_id]
        assert (verdict.policy_id, verdict.policy_version) == expected_policy[tenant]
        chosen = acting.select({"tenant": tenant})
        category = HarmCategory(verdict.categories[0].category) if verdict.categories else None
        assert verdict.label is chosen.label(verdict.p_unsafe, category)
        assert verdict.decided_by is Decider.MODEL
    assert {v.label for v in verdicts if tenant_of[v.event_id] == "strict"} == {VerdictLabel.UNSAFE}

    # the shadow policy (everything unsafe) judged every event, in the audit store only
    shadows = AuditStore(build_engine(running.audit_url)).shadow_decisions(sorted(ids))
    assert set(shadows) == ids
    by_event = {v.event_id: v for v in verdicts}
    for event_id, (decision,) in shadows.items():
        assert (decision["policy_id"], decision["policy_version"], decision["label"]) == (
            "global",
            "shadow-9",
            "unsafe",
        )
        assert decision["acting_label"] == by_event[event_id].label.value
        assert decision["acting_policy_id"] == by_event[event_id].policy_id
    flagged = running.verdicts(
        {v.event_id for v in verdicts if v.label is not VerdictLabel.SAFE}, running.topics.flagged
    )
    assert sorted(v.event_id for v in flagged) == sorted(
        v.event_id for v in verdicts if v.label is not VerdictLabel.SAFE
    )


def test_a_blocklist_change_reaches_the_running_worker_without_a_restart(running: RunningWorker) -> None:
    store = BlocklistStore(build_engine(running.audit_url))
    run = uuid.uuid4().hex[:8]

    def judged(phase: str) -> Verdict:
        [event] = run_events(f"{run}-{phase}", 1, seed=9)
        event = dataclasses.replace(event, text=f"今晚的{TERM_VARIANT}是什么", metadata={"tenant": "other"})
        running.send([event])
        [verdict] = running.verdicts({event.event_id})
        return verdict

    before = judged("before")
    assert before.decided_by is Decider.MODEL and before.blocklist_hits == ()

    store.add("live-test", [BlocklistTerm(TERM, HarmCategory.ILLEGAL_ACTIVITIES)], by="test")
    time.sleep(1.5)  # three refresh periods of the worker
    listed = judged("listed")
    assert (listed.decided_by, listed.label, listed.model_name, listed.model_version) == (
        Decider.BLOCKLIST, VerdictLabel.UNSAFE, "blocklist", "live-test@1",
    )  # fmt: skip
    [hit] = listed.blocklist_hits
    assert (hit.list_name, hit.list_version, hit.term, hit.category) == ("live-test", 1, TERM, "illegal_activities")

    store.remove("live-test", [TERM], by="test")
    time.sleep(1.5)
    after = judged("after")
    assert after.decided_by is Decider.MODEL and after.blocklist_hits == ()
    assert running.worker.alive()
