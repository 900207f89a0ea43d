"""The status summary, and the faust app built from settings without touching Kafka."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from guardstream.records import Action
from guardstream.serde import encode_record
from guardstream.settings import load_settings
from tests.unit.escalation.factory import MINUTE, RULES_YAML, T0, make_verdict
from workers.escalation.app import TABLE_NAME, build_agent
from workers.escalation.processor import WindowProcessor
from workers.escalation.rules import parse_rules
from workers.escalation.settings import load_escalation_settings
from workers.escalation.status import describe_rules, summarize
from workers.escalation.transport import READ_COMMITTED, ReadCommittedApp, ReadCommittedTransport


def test_status_ranks_keys_by_unsafe_then_review_and_shows_late_and_stream_time() -> None:
    rules = parse_rules(RULES_YAML)
    table: dict[str, Any] = {}

    async def publish(action: Action) -> None:
        return None

    processor = WindowProcessor(rules, table, publish)
    verdicts = [make_verdict(f"a{i}", user="alice", at_ms=T0 + i) for i in range(2)]
    verdicts += [make_verdict(f"b{i}", user="bob", label="review", at_ms=T0 + i) for i in range(4)]
    verdicts += [make_verdict("c0", user="carol", at_ms=T0), make_verdict("s0", user="sam", label="safe", at_ms=T0)]
    verdicts += [make_verdict("tick", user="t", conversation="t", label="safe", at_ms=T0 + 30 * MINUTE)]
    verdicts += [make_verdict("late", user="carol", conversation="old", at_ms=T0 - 120 * MINUTE)]
    for offset, verdict in enumerate(verdicts):
        for key in (f"user:{verdict.user_id}", f"conversation:{verdict.conversation_id}"):
            asyncio.run(processor.process(key, encode_record(verdict), (0, offset), 0))
    status = summarize(rules, table, hottest=3)
    assert [h.key for h in status.hottest_users] == ["alice", "carol", "bob"]
    assert status.hottest_users[0].unsafe == 2 and status.hottest_users[2].review == 4
    assert status.late_verdicts == 2 and status.stream_time_ms == {0: T0 + 30 * MINUTE}
    assert [r["id"] for r in status.rules] == ["repeat-unsafe", "crime", "review-rate"]
    assert status.to_dict()["hottest_users"][0]["key"] == "alice"
    assert describe_rules(rules)[2]["condition"] == ">= 3 review and >= 50% of verdicts"


def test_app_is_built_from_settings_with_read_committed_transport_and_named_topics(monkeypatch: Any) -> None:
    monkeypatch.setenv("GUARDSTREAM_ESCALATION_APP_ID", "esc-unit")
    monkeypatch.setenv("GUARDSTREAM_ESCALATION_PARTITIONS", "4")
    monkeypatch.setenv("GUARDSTREAM_TOPICS__VERDICTS", "v.unit")
    escalation = load_escalation_settings()
    agent = build_agent(load_settings(), escalation, parse_rules(RULES_YAML))
    assert isinstance(agent.app, ReadCommittedApp)
    assert isinstance(agent.app.transport, ReadCommittedTransport)
    assert agent.app.conf.processing_guarantee.value == "at_least_once"
    table = agent.app.tables[TABLE_NAME]
    assert table.changelog_topic.get_topic_name() == escalation.windows_changelog_topic == "esc-unit-windows-changelog"
    assert table.partitions == 4
    assert set(agent.app.agents) == {"router", "windows"} or len(agent.app.agents) == 2
    assert READ_COMMITTED == "read_committed"


def test_faust_keeps_its_files_in_the_temp_dir_or_the_setting_never_in_the_current_directory(
    monkeypatch: Any, tmp_path: Path
) -> None:
    monkeypatch.setenv("GUARDSTREAM_ESCALATION_APP_ID", "esc-unit")
    default = build_agent(load_settings(), load_escalation_settings(), parse_rules(RULES_YAML))
    assert Path(default.app.conf.datadir) == Path(tempfile.gettempdir()) / "esc-unit-data"
    monkeypatch.setenv("GUARDSTREAM_ESCALATION_DATA_DIR", str(tmp_path / "faust"))
    chosen = build_agent(load_settings(), load_escalation_settings(), parse_rules(RULES_YAML))
    assert Path(chosen.app.conf.datadir) == tmp_path / "faust"
