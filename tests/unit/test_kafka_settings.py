"""Kafka security settings: secrets from the environment or files, checked at start, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from guardstream.errors import ConfigurationError
from guardstream.settings import KafkaSettings, Settings, load_settings

SECRET = "hunter2-Very-Secret"


@pytest.fixture()
def ca(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    return path


def _secret_file(tmp_path: Path, content: str, name: str = "password") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def _sasl_ssl(ca: Path, **fields: object) -> dict[str, object]:
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "svc",
        "ssl_ca_location": ca,
        **fields,
    }


def test_password_file_is_read_at_start_without_its_trailing_newline(tmp_path: Path, ca: Path) -> None:
    kafka = KafkaSettings(**_sasl_ssl(ca, sasl_password_file=_secret_file(tmp_path, SECRET + "\n")))
    assert kafka.sasl_secret is not None and kafka.sasl_secret.get_secret_value() == SECRET
    assert kafka.sasl_password is None
    assert kafka.model_copy().sasl_secret == kafka.sasl_secret


def test_inline_password_is_the_secret_too(ca: Path) -> None:
    kafka = KafkaSettings(**_sasl_ssl(ca, sasl_password=SECRET))
    assert kafka.sasl_secret is not None and kafka.sasl_secret.get_secret_value() == SECRET


def test_password_from_environment_file_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ca: Path) -> None:
    monkeypatch.setenv("GUARDSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("GUARDSTREAM_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("GUARDSTREAM_KAFKA__SASL_USERNAME", "svc")
    monkeypatch.setenv("GUARDSTREAM_KAFKA__SASL_PASSWORD_FILE", str(_secret_file(tmp_path, SECRET)))
    monkeypatch.setenv("GUARDSTREAM_KAFKA__SSL_CA_LOCATION", str(ca))
    kafka = load_settings().kafka
    assert kafka.sasl_secret is not None and kafka.sasl_secret.get_secret_value() == SECRET


def test_password_and_password_file_together_are_refused_naming_both(tmp_path: Path, ca: Path) -> None:
    with pytest.raises(ConfigurationError) as error:
        load_settings(kafka=_sasl_ssl(ca, sasl_password=SECRET, sasl_password_file=_secret_file(tmp_path, "other")))
    assert "kafka.sasl_password (GUARDSTREAM_KAFKA__SASL_PASSWORD)" in str(error.value)
    assert "GUARDSTREAM_KAFKA__SASL_PASSWORD_FILE" in str(error.value)
    assert SECRET not in str(error.value)


def test_missing_password_file_names_the_setting_and_the_path(tmp_path: Path, ca: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigurationError) as error:
        load_settings(kafka=_sasl_ssl(ca, sasl_password_file=missing))
    assert (
        f"kafka.sasl_password_file (GUARDSTREAM_KAFKA__SASL_PASSWORD_FILE): Value error, cannot read {missing}"
        in str(error.value)
    )


def test_empty_password_file_is_refused(tmp_path: Path, ca: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"SASL_PASSWORD_FILE.*is empty"):
        load_settings(kafka=_sasl_ssl(ca, sasl_password_file=_secret_file(tmp_path, "\n")))


@pytest.mark.parametrize(
    "field", ["ssl_ca_location", "ssl_certificate_location", "ssl_key_location", "ssl_key_password_file"]
)
def test_every_file_setting_must_be_a_readable_file(tmp_path: Path, field: str) -> None:
    with pytest.raises(
        ConfigurationError, match=f"kafka.{field} \\(GUARDSTREAM_KAFKA__{field.upper()}\\).*cannot read"
    ):
        load_settings(kafka={field: tmp_path})  # a folder, not a file


def test_sasl_without_a_password_names_both_ways_to_give_one(ca: Path) -> None:
    with pytest.raises(ConfigurationError, match="sasl_password_file"):
        load_settings(kafka=_sasl_ssl(ca))


def test_tls_needs_a_ca_or_the_system_store(ca: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"ssl_ca_location.*ssl_ca_system"):
        load_settings(kafka=_sasl_ssl(ca, sasl_password=SECRET, ssl_ca_location=None))
    with pytest.raises(ConfigurationError, match="exactly one"):
        load_settings(kafka=_sasl_ssl(ca, sasl_password=SECRET, ssl_ca_system=True))
    kafka = load_settings(kafka=_sasl_ssl(ca, sasl_password=SECRET, ssl_ca_location=None, ssl_ca_system=True)).kafka
    assert kafka.uses_tls and kafka.ssl_ca_location is None


def test_plaintext_needs_no_ca() -> None:
    kafka = KafkaSettings()
    assert not kafka.uses_tls and kafka.sasl_secret is None and kafka.ssl_key_secret is None


def test_client_certificate_needs_its_key_and_a_key_password_needs_a_key(tmp_path: Path, ca: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"both .*ssl_certificate_location.*ssl_key_location"):
        load_settings(kafka={"security_protocol": "SSL", "ssl_ca_location": ca, "ssl_certificate_location": ca})
    with pytest.raises(ConfigurationError, match=r"ssl_key_password.*ssl_key_location"):
        load_settings(kafka={"security_protocol": "SSL", "ssl_ca_location": ca, "ssl_key_password": SECRET})


def test_key_password_from_a_file(tmp_path: Path, ca: Path) -> None:
    kafka = KafkaSettings(
        security_protocol="SSL",
        ssl_ca_location=ca,
        ssl_certificate_location=ca,
        ssl_key_location=ca,
        ssl_key_password_file=_secret_file(tmp_path, SECRET + "\r\n", "key-password"),
    )
    assert kafka.ssl_key_secret is not None and kafka.ssl_key_secret.get_secret_value() == SECRET
    with pytest.raises(ConfigurationError, match=r"SSL_KEY_PASSWORD_FILE.*not both"):
        load_settings(kafka={**kafka.model_dump(), "ssl_key_password": SECRET})


def test_secrets_never_show_in_repr_dump_or_errors(tmp_path: Path, ca: Path) -> None:
    kafka = KafkaSettings(
        **_sasl_ssl(
            ca,
            sasl_password=SECRET,
            ssl_certificate_location=ca,
            ssl_key_location=ca,
            ssl_key_password=SECRET + "-key",
        )
    )
    shown = repr(kafka) + str(kafka) + str(kafka.model_dump()) + kafka.model_dump_json()
    assert SECRET not in shown
    # an invalid setting next to a secret: neither the error text nor pydantic's own error shows it
    bad = _sasl_ssl(ca, sasl_password=SECRET, ssl_ca_system=True)
    with pytest.raises(ConfigurationError) as error:
        load_settings(kafka=bad)
    assert SECRET not in str(error.value)
    with pytest.raises(ValidationError) as raw:
        Settings(kafka=bad)
    assert SECRET not in str(raw.value)
    with pytest.raises(ValidationError) as raw:
        KafkaSettings(**bad)
    assert SECRET not in str(raw.value)
