"""``--check`` of each role: one line per probe, exit 0 when all passed, 1 naming what failed.

The probes against a running stack are exercised by tests/integration/test_wheel_roles.py."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from guardstream.settings import AuditSettings, KafkaSettings, TritonSettings, load_settings
from workers.cli.main import app
from workers.role_check import audit_probe, kafka_probe, role_probes, run_probes, triton_probe


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_probe_runs_and_a_failure_is_reported_with_its_reason() -> None:
    def broken() -> str:
        raise RuntimeError("no route")

    results = run_probes({"first": lambda: "fine", "second": broken, "third": lambda: "fine too"})
    assert [(r.name, r.ok) for r in results] == [("first", True), ("second", False), ("third", True)]
    assert results[1].detail == "RuntimeError: no route"


@pytest.mark.parametrize(
    ("role", "needs"),
    [
        ("worker", {"kafka", "audit store", "triton"}),
        ("stream-worker", {"kafka", "audit store", "triton"}),
        ("analysis", {"kafka", "audit store", "triton"}),
        ("review", {"kafka", "audit store"}),
        ("escalation", {"kafka"}),
    ],
)
def test_each_role_probes_what_it_needs(role: str, needs: set[str]) -> None:
    assert set(role_probes(role, load_settings())) == needs


def test_a_bad_setting_fails_the_check_and_says_which(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDSTREAM_WORKER__BATCH_MAX_SIZE", "-1")
    result = CliRunner().invoke(app, ["worker", "--check"])
    assert result.exit_code == 1
    assert "FAILED settings" in result.output
    assert "batch_max_size" in result.output
    assert "worker: cannot start: settings" in result.output


def test_an_unreachable_broker_or_database_fails_its_probe(tmp_path) -> None:
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{_closed_port()}")
    [result] = run_probes({"kafka": kafka_probe(kafka, ["chat.events"], timeout_s=0.5)})
    assert not result.ok
    database = AuditSettings(url=f"postgresql+psycopg://nobody:x@127.0.0.1:{_closed_port()}/none")
    [result] = run_probes({"audit store": audit_probe(database)})
    assert not result.ok and "OperationalError" in result.detail
    [result] = run_probes({"audit store": audit_probe(AuditSettings(url=f"sqlite:///{tmp_path / 'audit.db'}"))})
    assert result.ok


def test_a_rules_file_the_agent_cannot_read_fails_its_check(tmp_path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{name: x}]\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["escalate", "run", "--rules", str(rules), "--check"])
    assert result.exit_code == 1
    assert "FAILED settings" in result.output and str(rules) in result.output


class _TritonLoadingAnotherModel:
    """Triton under strict readiness while some other model loads: the server reads "not ready"."""

    def __init__(self, ready_models: set[str]) -> None:
        self._ready_models = ready_models

    def is_server_live(self) -> bool:
        return True

    def is_server_ready(self) -> bool:
        return False

    def is_model_ready(self, name: str) -> bool:
        return name in self._ready_models

    def close(self) -> None:
        pass


def test_the_triton_probe_asks_for_the_roles_models_not_for_every_model_on_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import workers.triton_client

    server = _TritonLoadingAnotherModel(ready_models={"guard"})
    monkeypatch.setattr(workers.triton_client, "build_grpc_client", lambda settings: server)
    [result] = run_probes({"triton": triton_probe(TritonSettings(), ["guard"])})
    assert result.ok, result.detail
    [result] = run_probes({"triton": triton_probe(TritonSettings(), ["guard", "guard_explain"])})
    assert not result.ok and "guard_explain" in result.detail
