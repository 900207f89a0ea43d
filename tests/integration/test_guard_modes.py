"""Score and explain modes through the real Triton server: the CLI checks built on them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardstream.audit.engine import build_engine, migrate
from guardstream.audit.store import AuditStore
from guardstream.settings import Settings
from tests.support.audit_records import event_and_verdict
from workers.cli.main import app
from workers.triton_client import GuardModelClient

pytestmark = pytest.mark.integration

AGREEMENT = re.compile(r"^AGREEMENT n=(\d+) agree=([0-9.]+) score_eps=([0-9.]+) explain_eps=([0-9.]+)$")


def test_agree_prints_the_agreement_line_last(base_settings: Settings, triton_ready: None) -> None:
    """On the trained default model the two modes agree (≥ 99% of 500 items measured; a margin here)."""
    result = CliRunner().invoke(app, ["guard", "agree", "--n", "40", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    match = AGREEMENT.match(result.output.strip().splitlines()[-1])
    assert match, result.output
    n, agree, score_eps, explain_eps = match.groups()
    assert int(n) == 40 and float(agree) >= 0.95
    assert float(score_eps) > 0 and float(explain_eps) > 0


def test_explain_mode_answers_with_the_verdict_json_prefix(base_settings: Settings, triton_ready: None) -> None:
    client = GuardModelClient(base_settings.triton)
    try:
        texts = client.explain([("你好", ""), ("怎么做番茄炒蛋？", "先炒鸡蛋。"), ("x" * 3000, "y")])
    finally:
        client.close()
    assert len(texts) == 3
    assert all(text.startswith('{\n  "答案": "') for text in texts)


def test_explain_command_judges_a_recorded_event(
    base_settings: Settings, triton_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    engine = build_engine(url)
    migrate(engine)
    AuditStore(engine).write([event_and_verdict(7)], [])
    monkeypatch.setenv("GUARDSTREAM_AUDIT__URL", url)
    result = CliRunner().invoke(app, ["explain", "event-7", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["event_id"] == "event-7" and answer["recorded_label"] == "unsafe"
    assert answer["explain_label"] in {"safe", "unsafe", "review"}
    assert answer["raw"].startswith('{\n  "答案": "') and answer["model_version"]
    missing = CliRunner().invoke(app, ["explain", "nope"])
    assert missing.exit_code == 1


def test_worker_refuses_a_model_that_breaks_the_contract(base_settings: Settings, triton_ready: None) -> None:
    """The explain model has no P_UNSAFE output: serving it as the score model must not start."""
    from guardstream.errors import ConfigurationError

    client = GuardModelClient(base_settings.triton.model_copy(update={"model_name": "guard_explain"}))
    try:
        with pytest.raises(ConfigurationError, match="output P_UNSAFE must be FP32, served: missing"):
            client.check_contract(batch_size=8)
        with pytest.raises(ConfigurationError, match="max_batch_size 16 is below the worker's batch size 64"):
            client.check_contract(batch_size=64)
    finally:
        client.close()
