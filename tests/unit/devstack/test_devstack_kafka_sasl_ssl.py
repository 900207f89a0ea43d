"""The dev broker's optional SASL_SSL listener: properties, settings checks, SCRAM users."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import ScramMechanism
from pydantic import ValidationError

from devtools.devstack.errors import DevStackError
from devtools.devstack.kafka import (
    SASL_SSL_TEMPLATE,
    KafkaBroker,
    parse_scram_users,
    render_server_properties,
    upsert_scram_users,
)
from devtools.devstack.processes import ProcessSupervisor
from devtools.devstack.settings import DevStackSettings


def _settings(tmp_path: Path, **fields: Any) -> DevStackSettings:
    return DevStackSettings(runtime_dir=tmp_path, kafka_port=29092, kafka_controller_port=29093, **fields)


def _properties(settings: DevStackSettings) -> dict[str, str]:
    template = (settings.kafka_infra_dir / "server.properties.template").read_text()
    sasl_ssl = (settings.kafka_infra_dir / SASL_SSL_TEMPLATE).read_text()
    rendered = render_server_properties(template, settings, sasl_ssl)
    assert "${" not in rendered
    pairs = (line.split("=", 1) for line in rendered.splitlines() if line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_off_by_default_so_the_broker_has_only_plaintext(tmp_path: Path) -> None:
    props = _properties(_settings(tmp_path))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert not [key for key in props if "sasl" in key or "ssl" in key]


def test_sasl_ssl_listener_with_scram_and_a_pem_keystore(tmp_path: Path) -> None:
    keystore = tmp_path / "broker.pem"
    props = _properties(_settings(tmp_path, kafka_sasl_ssl_port=29094, kafka_ssl_keystore=keystore))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093,SASL_SSL://127.0.0.1:29094"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092,SASL_SSL://127.0.0.1:29094"
    assert props["listener.security.protocol.map"].endswith(",SASL_SSL:SASL_SSL")
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512,SCRAM-SHA-256"
    assert "ScramLoginModule required;" in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert props["listener.name.sasl_ssl.ssl.keystore.type"] == "PEM"
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == str(keystore)
    assert props["listener.name.sasl_ssl.ssl.client.auth"] == "none"
    assert "listener.name.sasl_ssl.ssl.truststore.location" not in props


def test_a_truststore_makes_client_certificates_required(tmp_path: Path) -> None:
    props = _properties(
        _settings(
            tmp_path,
            kafka_sasl_ssl_port=29094,
            kafka_ssl_keystore=tmp_path / "k.pem",
            kafka_ssl_truststore=tmp_path / "ca.pem",
        )
    )
    assert props["listener.name.sasl_ssl.ssl.client.auth"] == "required"
    assert props["listener.name.sasl_ssl.ssl.truststore.type"] == "PEM"
    assert props["listener.name.sasl_ssl.ssl.truststore.location"] == str(tmp_path / "ca.pem")


def test_sasl_ssl_port_needs_a_keystore_and_its_own_port(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GUARDSTREAM_DEV_KAFKA_SSL_KEYSTORE"):
        _settings(tmp_path, kafka_sasl_ssl_port=29094)
    with pytest.raises(ValidationError, match="ports must all differ"):
        _settings(tmp_path, kafka_sasl_ssl_port=29092, kafka_ssl_keystore=tmp_path / "k.pem")


def test_sasl_ssl_port_from_the_environment_and_in_the_broker_ports(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GUARDSTREAM_DEV_KAFKA_SASL_SSL_PORT", "29094")
    monkeypatch.setenv("GUARDSTREAM_DEV_KAFKA_SSL_KEYSTORE", str(tmp_path / "k.pem"))
    settings = _settings(tmp_path)
    assert settings.kafka_sasl_ssl_bootstrap == "127.0.0.1:29094"
    broker = KafkaBroker(settings, ProcessSupervisor(tmp_path))
    assert broker.ports() == (29092, 29093, 29094)
    assert KafkaBroker(_settings(tmp_path / "off", kafka_sasl_ssl_port=None), ProcessSupervisor(tmp_path)).ports() == (
        29092,
        29093,
    )


def test_scram_users_file_lines(tmp_path: Path) -> None:
    text = "# users\nalice:pa:ss\n\n  bob : secret-b\n"
    assert parse_scram_users(text, "users.txt") == {"alice": "pa:ss", "bob": " secret-b"}
    with pytest.raises(DevStackError, match=r"users\.txt:2: expected `name:password`") as error:
        parse_scram_users("ok:1\nno-separator-secret\n", "users.txt")
    assert "no-separator-secret" not in str(error.value)


class FakeScramAdmin:
    def __init__(self) -> None:
        self.requests: list[list[Any]] = []

    def alter_user_scram_credentials(self, alterations: list[Any], **kwargs: Any) -> dict[str, Future[None]]:
        users = [a.user for a in alterations]
        assert len(users) == len(set(users)), "the broker refuses two alterations of one user in a request"
        self.requests.append(alterations)
        done: Future[None] = Future()
        done.set_result(None)
        return dict.fromkeys(users, done)


def test_scram_users_get_both_mechanisms_one_request_each() -> None:
    admin = FakeScramAdmin()
    upsert_scram_users(admin, {"alice": "a-pw", "bob": "b-pw"}, deadline=float("inf"))
    mechanisms = [{a.scram_credential_info.mechanism for a in request} for request in admin.requests]
    assert mechanisms == [{ScramMechanism.SCRAM_SHA_512}, {ScramMechanism.SCRAM_SHA_256}]
    assert [sorted((a.user, a.password) for a in request) for request in admin.requests] == [
        [("alice", b"a-pw"), ("bob", b"b-pw")]
    ] * 2
    upsert_scram_users(admin, {}, deadline=float("inf"))
    assert len(admin.requests) == 2
