"""docker-compose.yml cannot run here (no Docker engine); keep it consistent with the code instead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from devtools.devstack.settings import DevStackSettings
from guardstream.paths import repository_root
from guardstream.settings import load_settings

ROOT = repository_root()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_the_stack_has_its_services() -> None:
    assert {"kafka", "topics", "postgres", "triton", "worker"} <= set(COMPOSE["services"])


def test_every_build_names_an_existing_dockerfile() -> None:
    for name, service in COMPOSE["services"].items():
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name


def test_dependencies_name_defined_services() -> None:
    services = set(COMPOSE["services"])
    for name, service in COMPOSE["services"].items():
        assert set(service.get("depends_on", {})) <= services, name


def test_topics_and_partitions_match_the_local_stack() -> None:
    script = COMPOSE["services"]["topics"]["command"][0]
    declared = {name: int(count) for name, count in re.findall(r"([\w.-]+):(\d+)", script.split(";")[0])}
    assert declared == DevStackSettings().topics


def test_worker_environment_is_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = COMPOSE["services"]["worker"]["environment"]
    for key, value in environment.items():
        monkeypatch.setenv(key, str(value).replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "secret"))
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.audit.url.startswith("postgresql+psycopg://")


def test_triton_serves_the_committed_model_repository() -> None:
    triton = COMPOSE["services"]["triton"]
    assert "./triton_models:/models" in triton["volumes"]
    assert (ROOT / "triton_models" / "guard" / "config.pbtxt").is_file()
    assert Path(ROOT / "triton_models" / "guard" / "1" / "model.py").is_file()


def test_the_worker_healthcheck_asks_readyz_on_the_metrics_port() -> None:
    worker = COMPOSE["services"]["worker"]
    port = load_settings().telemetry.metrics_port
    assert str(port) in worker["expose"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(worker["healthcheck"]["test"])
