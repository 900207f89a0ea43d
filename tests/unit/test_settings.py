"""Settings are typed, validated at start, and errors name the setting and its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardstream.errors import ConfigurationError
from guardstream.settings import load_settings


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUARDSTREAM_CONFIG", raising=False)
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert settings.triton.grpc_url == "127.0.0.1:18001"
    assert settings.audit.url.startswith("sqlite:///") and settings.audit.url.endswith(".run/audit.db")


def test_environment_overrides_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDSTREAM_WORKER__BATCH_MAX_SIZE", "16")
    monkeypatch.setenv("GUARDSTREAM_TOPICS__VERDICTS", "other.verdicts")
    settings = load_settings()
    assert settings.worker.batch_max_size == 16
    assert settings.topics.verdicts == "other.verdicts"


def test_yaml_file_is_read_and_environment_wins_over_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "guardstream.yaml"
    config.write_text(
        "worker:\n  max_in_flight: 7\n  batch_max_size: 8\npolicy:\n  file: /etc/p9.yaml\n", encoding="utf-8"
    )
    monkeypatch.setenv("GUARDSTREAM_CONFIG", str(config))
    monkeypatch.setenv("GUARDSTREAM_WORKER__BATCH_MAX_SIZE", "32")
    settings = load_settings()
    assert (settings.worker.max_in_flight, settings.worker.batch_max_size) == (7, 32)
    assert settings.policy.file == Path("/etc/p9.yaml")


def test_invalid_value_names_the_setting_and_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDSTREAM_WORKER__MAX_IN_FLIGHT", "0")
    with pytest.raises(ConfigurationError) as error:
        load_settings()
    assert "worker.max_in_flight (GUARDSTREAM_WORKER__MAX_IN_FLIGHT)" in str(error.value)


def test_unknown_setting_in_the_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "guardstream.yaml"
    config.write_text("worker:\n  batch_size: 8\n", encoding="utf-8")
    monkeypatch.setenv("GUARDSTREAM_CONFIG", str(config))
    with pytest.raises(ConfigurationError, match=r"worker\.batch_size"):
        load_settings()


def test_policy_thresholds_must_be_ordered() -> None:
    with pytest.raises(ConfigurationError, match="review_threshold"):
        load_settings(policy={"unsafe_threshold": 0.4, "review_threshold": 0.6})


def test_sasl_without_credentials_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="sasl"):
        load_settings(kafka={"security_protocol": "SASL_SSL"})


def test_secrets_do_not_show_in_the_settings_repr() -> None:
    settings = load_settings(
        kafka={
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "u",
            "sasl_password": "hunter2",
            "ssl_ca_system": True,
        }
    )
    assert "hunter2" not in repr(settings)


def test_unreadable_settings_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GUARDSTREAM_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigurationError, match="GUARDSTREAM_CONFIG="):
        load_settings()


def test_precedence_is_arguments_then_environment_then_file_then_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "guardstream.yaml"
    config.write_text(
        "worker:\n  batch_max_size: 8\n  max_in_flight: 7\n  commit_interval_ms: 50\ntopics:\n  dlq: file.dlq\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("GUARDSTREAM_CONFIG", str(config))
    monkeypatch.setenv("GUARDSTREAM_WORKER__BATCH_MAX_SIZE", "32")
    monkeypatch.setenv("GUARDSTREAM_WORKER__MAX_IN_FLIGHT", "9")
    settings = load_settings(worker={"batch_max_size": 64})
    assert settings.worker.batch_max_size == 64  # the argument, over the environment and the file
    assert settings.worker.max_in_flight == 9  # the environment, over the file
    assert settings.worker.commit_interval_ms == 50.0  # the file, over the default
    assert (settings.topics.dlq, settings.topics.verdicts) == ("file.dlq", "moderation.verdicts")


@pytest.mark.parametrize(
    ("content", "problem"),
    [("- a\n- b\n", "expected a mapping at the top"), ("worker: [\n", "cannot read settings file")],
)
def test_a_settings_file_that_cannot_be_used_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str, problem: str
) -> None:
    config = tmp_path / "guardstream.yaml"
    config.write_text(content, encoding="utf-8")
    monkeypatch.setenv("GUARDSTREAM_CONFIG", str(config))
    with pytest.raises(ConfigurationError, match=f"GUARDSTREAM_CONFIG={config}: {problem}"):
        load_settings()


def test_an_invalid_value_in_the_file_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "guardstream.yaml"
    config.write_text("worker:\n  max_in_flight: 0\n", encoding="utf-8")
    monkeypatch.setenv("GUARDSTREAM_CONFIG", str(config))
    with pytest.raises(ConfigurationError, match=r"worker\.max_in_flight \(GUARDSTREAM_WORKER__MAX_IN_FLIGHT\)"):
        load_settings()
