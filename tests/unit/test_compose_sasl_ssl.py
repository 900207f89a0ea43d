"""infra/production/compose.sasl-ssl.yml (secured Kafka for docker compose) agrees with the settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from guardstream.paths import repository_root
from guardstream.settings import load_settings

ROOT = repository_root()
BASE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
OVERRIDE = yaml.safe_load((ROOT / "infra/production/compose.sasl-ssl.yml").read_text(encoding="utf-8"))
SECRETS = "/run/secrets/"


def _worker_environment() -> dict[str, str]:
    merged = {**BASE["services"]["worker"]["environment"], **OVERRIDE["services"]["worker"]["environment"]}
    return {key: str(value) for key, value in merged.items()}


def test_override_names_services_of_the_stack() -> None:
    services = set(BASE["services"]) | {"kafka-users"}
    assert set(OVERRIDE["services"]) <= services
    for service in OVERRIDE["services"].values():
        assert set(service.get("depends_on", {})) <= services


def test_worker_environment_is_valid_sasl_ssl_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environment = _worker_environment()
    for key, value in environment.items():
        value = value.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "secret")
        if value.startswith(SECRETS):  # the mounted secret files, as the container would see them
            local = tmp_path / value.removeprefix(SECRETS)
            local.write_text("from-a-file\n", encoding="utf-8")
            value = str(local)
        monkeypatch.setenv(key, value)
    kafka = load_settings().kafka
    assert kafka.security_protocol == "SASL_SSL" and kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert kafka.sasl_secret is not None and kafka.sasl_secret.get_secret_value() == "from-a-file"


def test_every_secret_file_the_worker_reads_is_mounted_and_defined() -> None:
    used = {value.removeprefix(SECRETS) for value in _worker_environment().values() if value.startswith(SECRETS)}
    assert used <= set(OVERRIDE["services"]["worker"]["secrets"])
    assert used <= set(OVERRIDE["secrets"])


def test_broker_listener_user_and_mechanism_match_the_clients() -> None:
    environment = _worker_environment()
    kafka = OVERRIDE["services"]["kafka"]["environment"]
    assert "SASL_SSL://" + environment["GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS"] in kafka["KAFKA_ADVERTISED_LISTENERS"]
    assert (
        kafka["KAFKA_LISTENER_NAME_SASL__SSL_SASL_ENABLED_MECHANISMS"]
        == environment["GUARDSTREAM_KAFKA__SASL_MECHANISM"]
    )
    keystore = kafka["KAFKA_LISTENER_NAME_SASL__SSL_SSL_KEYSTORE_LOCATION"].removeprefix(SECRETS)
    assert keystore in OVERRIDE["services"]["kafka"]["secrets"] and keystore in OVERRIDE["secrets"]
    users = OVERRIDE["services"]["kafka-users"]["command"][0]
    assert re.search(rf"--entity-name {environment['GUARDSTREAM_KAFKA__SASL_USERNAME']}\b", users)
    assert f"{environment['GUARDSTREAM_KAFKA__SASL_MECHANISM']}=[password=" in users


def test_every_kafka_client_of_the_stack_is_secured() -> None:
    clients = {
        name
        for name, service in BASE["services"].items()
        if "GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS" in (service.get("environment") or {})
    }
    assert clients >= {"worker", "stream-worker", "analysis", "escalation", "review", "relay", "training"}
    for name in clients:
        override = OVERRIDE["services"][name]
        assert override["environment"]["GUARDSTREAM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert set(override["secrets"]) == {"kafka_password", "kafka_ca.pem"}, name
