from __future__ import annotations

from pathlib import Path

from devtools.devstack import stack
from devtools.devstack.postgres import PASSWORD, ROLE, provisioning_sql
from devtools.devstack.settings import DevStackSettings


def _idle_settings(tmp_path: Path) -> DevStackSettings:
    # ports nothing listens on, a runtime folder nothing was started from
    return DevStackSettings(
        runtime_dir=tmp_path,
        kafka_port=1,
        kafka_controller_port=2,
        triton_http_port=3,
        triton_grpc_port=4,
        triton_metrics_port=5,
        postgres_port=6,
    )


def test_status_of_a_stack_never_started_reports_everything_down(tmp_path: Path) -> None:
    rows = stack.status(_idle_settings(tmp_path))
    assert [row.name for row in rows] == ["kafka", "triton"]
    assert all(not row.running and not row.healthy and row.pid is None for row in rows)
    assert rows[0].to_dict()["address"] == "127.0.0.1:1"


def test_down_without_up_stops_nothing(tmp_path: Path) -> None:
    assert stack.down(_idle_settings(tmp_path)) == []


def test_provisioning_sql_creates_the_role_only_if_missing() -> None:
    sql = provisioning_sql()
    assert "IF NOT EXISTS" in sql
    assert f"CREATE ROLE {ROLE} LOGIN" in sql and f"PASSWORD '{PASSWORD}'" in sql
