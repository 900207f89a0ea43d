"""`guardstream audit show|stats`, human-readable and --json, over a real SQLite store."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.shadow import ShadowDecision
from guardstream.audit.store import AuditStore
from guardstream.records import Decider, VerdictLabel
from tests.support.audit_records import dead_letter, event_and_verdict
from workers.cli.main import app


@pytest.fixture()
def audit_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("GUARDSTREAM_AUDIT__URL", url)
    engine = build_engine(url)
    migrate(engine)
    AuditStore(engine).write([event_and_verdict(i, latency_ms=10 * i) for i in range(1, 5)], [dead_letter(1)])
    return url


def test_show_prints_the_verdict_as_json(audit_url: str) -> None:
    result = CliRunner().invoke(app, ["audit", "show", "event-2", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert row["event_id"] == "event-2" and row["label"] == "unsafe" and row["text"] == "这条消息编号 2"


def test_show_as_a_table_names_the_fields(audit_url: str) -> None:
    result = CliRunner().invoke(app, ["audit", "show", "event-1"])
    assert result.exit_code == 0
    assert "p_unsafe" in result.output and "event-1" in result.output


def test_show_of_an_unknown_event_fails_with_a_message(audit_url: str) -> None:
    result = CliRunner().invoke(app, ["audit", "show", "nope"])
    assert result.exit_code == 1
    assert "no verdict recorded" in result.output


def test_stats_as_json(audit_url: str) -> None:
    result = CliRunner().invoke(app, ["audit", "stats", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["total"] == 4
    assert stats["by_label"] == {"unsafe": 4}
    assert stats["dead_letters_by_kind"] == {"invalid_utf8": 1}
    assert stats["end_to_end_ms"] == {"p50": 20.0, "p95": 40.0, "p99": 40.0}


def test_stats_as_tables(audit_url: str) -> None:
    result = CliRunner().invoke(app, ["audit", "stats"])
    assert result.exit_code == 0
    assert "4 verdicts" in result.output and "invalid_utf8" in result.output and "event → verdict" in result.output


def test_show_adds_the_revisions_and_the_shadow_decisions(audit_url: str) -> None:
    _, verdict = event_and_verdict(3)
    revision = dataclasses.replace(verdict, revision=1, label=VerdictLabel.SAFE, decided_by=Decider.MODEL)
    shadow = ShadowDecision(
        event_id=verdict.event_id, policy_id="global", policy_version="s-2", label=VerdictLabel.SAFE, p_unsafe=0.2,
        decided_by=Decider.MODEL, blocklist_hits=(), acting_policy_id="global", acting_label=verdict.label,
        decided_at_ms=5,
    )  # fmt: skip
    AuditStore(build_engine(audit_url)).write([], [], [shadow], [revision])
    result = CliRunner().invoke(app, ["audit", "show", "event-3", "--json"])
    document = json.loads(result.output)
    assert [(r["revision"], r["label"]) for r in document["revisions"]] == [(1, "safe")]
    assert [(d["policy_version"], d["label"], d["acting_label"]) for d in document["shadow_decisions"]] == [
        ("s-2", "safe", "unsafe")
    ]
    table = CliRunner().invoke(app, ["audit", "show", "event-3"]).output
    assert "revisions 1" in table and "shadow decisions 1" in table
    assert json.loads(CliRunner().invoke(app, ["audit", "show", "event-1", "--json"]).output)["revisions"] == []
