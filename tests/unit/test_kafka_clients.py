"""Every client's connection settings come from one function; errors say what to fix, never a secret."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from guardstream.errors import ConfigurationError, RetriableError
from guardstream.settings import KafkaSettings
from tests.support.tls import TlsFiles, make_tls_files
from workers.escalation.app import _credentials
from workers.kafka_clients import connection_config, connection_error, tls_context

SASL_SECRET = "sasl-Secret-Value-42"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def _secured(tls: TlsFiles, tmp_path: Path, **overrides: object) -> KafkaSettings:
    password_file = tmp_path / "sasl-password"
    password_file.write_text(SASL_SECRET + "\n", encoding="utf-8")
    fields: dict[str, object] = {
        "bootstrap_servers": "broker-1:9093,broker-2:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "svc",
        "sasl_password_file": password_file,
        "ssl_ca_location": tls.ca_cert,
        "ssl_certificate_location": tls.client_cert,
        "ssl_key_location": tls.client_key,
        "ssl_key_password": tls.client_key_password,
    }
    return KafkaSettings(**{**fields, **overrides})


def test_plaintext_has_no_security_settings() -> None:
    assert connection_config(KafkaSettings(bootstrap_servers="k:9092")) == {
        "bootstrap.servers": "k:9092",
        "security.protocol": "PLAINTEXT",
    }


def test_sasl_ssl_with_mutual_tls_maps_every_setting(tls: TlsFiles, tmp_path: Path) -> None:
    assert connection_config(_secured(tls, tmp_path)) == {
        "bootstrap.servers": "broker-1:9093,broker-2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc",
        "sasl.password": SASL_SECRET,
        "ssl.ca.location": str(tls.ca_cert),
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.certificate.location": str(tls.client_cert),
        "ssl.key.location": str(tls.client_key),
        "ssl.key.password": tls.client_key_password,
    }


def test_system_store_and_no_endpoint_identification(tls: TlsFiles, tmp_path: Path) -> None:
    kafka = _secured(
        tls,
        tmp_path,
        ssl_ca_location=None,
        ssl_ca_system=True,
        ssl_endpoint_identification=False,
        ssl_certificate_location=None,
        ssl_key_location=None,
        ssl_key_password=None,
    )
    config = connection_config(kafka)
    assert config["ssl.ca.location"] == "probe"
    assert config["ssl.endpoint.identification.algorithm"] == "none"
    assert "ssl.certificate.location" not in config and "ssl.key.password" not in config
    context = tls_context(kafka)
    assert context is not None and not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_python_tls_context_loads_the_ca_and_the_encrypted_client_key(tls: TlsFiles, tmp_path: Path) -> None:
    context = tls_context(_secured(tls, tmp_path))
    assert context is not None and context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert [cert["subject"] for cert in context.get_ca_certs()] == [
        ((("organizationName", "guardstream tests"),), (("commonName", "guardstream test CA"),))
    ]
    assert tls_context(KafkaSettings()) is None


def test_wrong_key_password_is_a_configuration_error_without_the_password(tls: TlsFiles, tmp_path: Path) -> None:
    wrong = "not-the-Key-Password"
    with pytest.raises(ConfigurationError, match="ssl_key_location") as error:
        tls_context(_secured(tls, tmp_path, ssl_key_password=wrong))
    assert wrong not in str(error.value) and tls.client_key_password not in str(error.value)


def test_faust_credentials_are_scram_over_the_same_tls_context(tls: TlsFiles, tmp_path: Path) -> None:
    credentials = _credentials(_secured(tls, tmp_path))["broker_credentials"]
    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("svc", SASL_SECRET)
    assert isinstance(auth["ssl_context"], ssl.SSLContext) and auth["ssl_context"].check_hostname
    assert SASL_SECRET not in repr(credentials)
    assert _credentials(KafkaSettings()) == {}


def test_faust_credentials_for_sasl_without_tls(tmp_path: Path) -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256", sasl_username="svc", sasl_password="pw"
    )
    auth = credentials_to_aiokafka_auth(_credentials(kafka)["broker_credentials"])
    assert (auth["security_protocol"], auth["sasl_mechanism"], auth["ssl_context"]) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-256",
        None,
    )
    assert "ssl.ca.location" not in connection_config(kafka)


def _failure() -> KafkaException:
    return KafkaException(KafkaError(KafkaError._TRANSPORT, "Failed to get metadata"))


def test_refused_credentials_are_a_configuration_error_naming_the_user(tls: TlsFiles, tmp_path: Path) -> None:
    kafka = _secured(tls, tmp_path)
    errors = [
        KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"),
        # a broker message that (hypothetically) quotes the secret is masked
        KafkaError(KafkaError._AUTHENTICATION, f"SASL authentication error: Authentication failed ({SASL_SECRET})"),
    ]
    error = connection_error(kafka, errors, _failure())
    assert isinstance(error, ConfigurationError)
    assert "refused the credentials of kafka.sasl_username=svc (sasl_mechanism=SCRAM-SHA-512)" in str(error)
    assert SASL_SECRET not in str(error) and "**********" in str(error)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (KafkaError._SSL, "SSL handshake failed: certificate verify failed"),
        (KafkaError._TRANSPORT, "Receive failed: error:0A000412:SSL routines::ssl/tls alert bad certificate"),
    ],
)
def test_tls_failures_are_configuration_errors(tls: TlsFiles, tmp_path: Path, code: int, text: str) -> None:
    error = connection_error(_secured(tls, tmp_path), [KafkaError(code, text)], _failure())
    assert isinstance(error, ConfigurationError)
    assert str(error).startswith("TLS handshake with Kafka at broker-1:9093,broker-2:9093 (security_protocol=SASL_SSL)")


def test_unreachable_brokers_are_retriable(tls: TlsFiles, tmp_path: Path) -> None:
    errors = [KafkaError(KafkaError._TRANSPORT, "Connect to ipv4#10.0.0.1:9093 failed: Connection refused")]
    error = connection_error(_secured(tls, tmp_path), errors, _failure())
    assert isinstance(error, RetriableError) and "Connection refused" in str(error)
    assert isinstance(connection_error(KafkaSettings(), [], _failure()), RetriableError)
