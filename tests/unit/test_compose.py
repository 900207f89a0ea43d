"""docker-compose.yml cannot run here (no Docker engine); keep it consistent with the code instead."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import typer
import yaml
from typer.core import TyperGroup

from devtools.devstack.settings import DevStackSettings
from guardstream.paths import repository_root
from guardstream.settings import Settings, load_settings
from workers.cli.main import app

ROOT = repository_root()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


GUARDSTREAM_SERVICES = {"worker", "stream-worker", "analysis", "escalation", "review", "relay", "training"}
INFRA = {"kafka", "topics", "postgres", "triton", "prometheus", "grafana"}
PROMETHEUS = yaml.safe_load((ROOT / "infra" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))


def test_the_stack_has_its_services() -> None:
    assert set(COMPOSE["services"]) == GUARDSTREAM_SERVICES | INFRA


def _command_path(arguments: list[str]) -> list[str]:
    """The guardstream command an argument list names (its words before the first option)."""
    group = typer.main.get_command(app)
    path: list[str] = []
    for word in arguments:
        if word.startswith("-") or not isinstance(group, TyperGroup):
            break
        command = group.get_command(group.make_context("guardstream", [*path, "--help"], resilient_parsing=True), word)
        assert command is not None, f"guardstream has no command {' '.join([*path, word])}"
        path.append(word)
        group = command
    assert not isinstance(group, TyperGroup), f"{' '.join(path)} is a group, not a command"
    return path


def _guardstream_command(service: dict[str, object]) -> list[str]:
    command = service["command"]
    assert isinstance(command, list)
    if service.get("entrypoint") == ["/bin/sh", "-c"]:  # a loop around one guardstream command
        [line] = [line.split() for line in command[0].splitlines() if line.strip().startswith("guardstream ")]
        return line[1:]
    return [str(word) for word in command]


def test_every_role_the_code_has_runs_as_a_service_with_a_real_command() -> None:
    commands = {
        name: " ".join(_command_path(_guardstream_command(COMPOSE["services"][name]))) for name in GUARDSTREAM_SERVICES
    }
    assert commands == {
        "worker": "worker",
        "stream-worker": "stream-worker",
        "analysis": "analysis",
        "escalation": "escalate run",
        "review": "review serve",
        "relay": "review relay",
        "training": "train schedule",
    }
    # the review app leaves the relay to its own service: one relay, one transactional id
    assert "--no-relay" in COMPOSE["services"]["review"]["command"]


def test_the_services_image_holds_every_service_role_and_the_training_image_the_trainer() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    for name in GUARDSTREAM_SERVICES:
        build = COMPOSE["services"][name]["build"]
        assert build["dockerfile"] == "infra/production/guardstream.Dockerfile", name
        assert build["args"]["EXTRAS"] == ("training" if name == "training" else "services"), name
        assert build["args"]["EXTRAS"] in extras
    assert COMPOSE["services"]["triton"]["build"]["dockerfile"] == "infra/production/triton.Dockerfile"


def _settings_field(key: str) -> object:
    """The settings field an environment variable names, or None."""
    from workers.escalation.settings import ENV_PREFIX as ESCALATION
    from workers.escalation.settings import EscalationSettings
    from workers.review.settings import ENV_PREFIX as REVIEW
    from workers.review.settings import ReviewSettings

    if key.startswith(REVIEW):
        return ReviewSettings.model_fields.get(key.removeprefix(REVIEW).lower())
    if key.startswith(ESCALATION):
        return EscalationSettings.model_fields.get(key.removeprefix(ESCALATION).lower())
    section, _, field = key.removeprefix("GUARDSTREAM_").lower().partition("__")
    owner = Settings.model_fields.get(section)
    return owner.annotation.model_fields.get(field) if owner is not None and owner.annotation is not None else None


def test_every_guardstream_variable_of_every_service_is_a_real_setting() -> None:
    for name in GUARDSTREAM_SERVICES:
        for key in COMPOSE["services"][name]["environment"]:
            if key.startswith("GUARDSTREAM_"):
                assert _settings_field(key) is not None, f"{name}: {key} is no setting"


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


def _interpolated(value: object) -> str:
    """A compose value with ${NAME:?…} given a value and ${NAME:-default} its default."""
    text = re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "secret", str(value))
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


@pytest.mark.parametrize("name", sorted(GUARDSTREAM_SERVICES - {"escalation"}))
def test_each_services_environment_is_valid_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in COMPOSE["services"][name]["environment"].items():
        monkeypatch.setenv(key, _interpolated(value))
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.triton.grpc_url == "triton:8001"
    assert settings.audit.url.startswith("postgresql+psycopg://guardstream:secret@postgres:5432/")
    if name in ("review", "relay"):
        from workers.review.settings import load_review_settings

        review = load_review_settings()
        if name == "review":
            assert (review.host, review.port, review.secure_cookies) == ("0.0.0.0", 8080, True)
            assert "127.0.0.1" in review.allowed_hosts  # its healthcheck's Host


def test_the_escalation_agents_environment_is_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.escalation.settings import load_escalation_settings

    for key, value in COMPOSE["services"]["escalation"]["environment"].items():
        monkeypatch.setenv(key, _interpolated(value))
    assert load_settings().kafka.bootstrap_servers == "kafka:9092"
    data_dir = load_escalation_settings().data_dir
    assert data_dir is not None
    assert any(volume.endswith(f":{data_dir}") for volume in COMPOSE["services"]["escalation"]["volumes"])


def test_triton_serves_a_model_repository_the_training_job_publishes_to_with_the_checkouts_first_weights() -> None:
    from workers.cli.model import DEFAULT_CHECKPOINT, FAST_CHECKPOINT

    triton, training = COMPOSE["services"]["triton"], COMPOSE["services"]["training"]
    assert "model-repository:/models" in triton["volumes"] and "model-repository:/models" in training["volumes"]
    assert "--set repository=/models" in training["command"][0]
    for checkpoint in (DEFAULT_CHECKPOINT, FAST_CHECKPOINT):  # what `make model` writes
        inside = Path("/models", *checkpoint.parts[1:])
        assert f"./{checkpoint.as_posix()}:{inside.as_posix()}:ro" in triton["volumes"]
    assert triton["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_prometheus_scrapes_every_worker_replica_and_triton() -> None:
    prometheus = COMPOSE["services"]["prometheus"]
    assert "./infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    jobs = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}
    [workers] = jobs["guardstream-worker"]["dns_sd_configs"]
    assert workers["names"] == ["worker"] and workers["port"] == load_settings().telemetry.metrics_port
    assert jobs["triton"]["static_configs"][0]["targets"] == ["triton:8002"]
    assert "8002" in COMPOSE["services"]["triton"]["expose"]


def test_grafana_is_provisioned_with_prometheus_and_the_charts_dashboard() -> None:
    grafana = COMPOSE["services"]["grafana"]
    provisioning = ROOT / "infra" / "grafana" / "provisioning"
    assert "./infra/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["isDefault"]
    [provider] = yaml.safe_load((provisioning / "dashboards" / "guardstream.yml").read_text())["providers"]
    # the Helm chart's dashboard (infra/helm/guardstream), one JSON for both deployments
    assert f"./infra/helm/guardstream/dashboards:{provider['options']['path']}:ro" in grafana["volumes"]


def test_the_worker_healthcheck_asks_readyz_on_the_metrics_port() -> None:
    worker = COMPOSE["services"]["worker"]
    port = load_settings().telemetry.metrics_port
    assert str(port) in worker["expose"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(worker["healthcheck"]["test"])
