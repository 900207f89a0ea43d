from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from devtools.devstack.settings import DevStackSettings
from guardstream.paths import repository_root

REPO = Path(__file__).resolve().parents[3]


def test_defaults_point_inside_the_repository() -> None:
    settings = DevStackSettings()
    assert settings.runtime_dir == REPO / ".run"
    assert settings.cache_dir == REPO / ".cache"
    assert settings.model_repository == REPO / "triton_models"
    assert (settings.kafka_infra_dir / "server.properties.template").is_file()


def test_topics_map_names_to_partition_counts_in_data_flow_order() -> None:
    assert DevStackSettings().topics == {
        "chat.events": 6,
        "moderation.verdicts": 6,
        "moderation.flagged": 3,
        "moderation.analyses": 3,
        "moderation.dlq": 1,
        "moderation.feedback": 1,
        "moderation.actions": 3,
        "moderation.rejudge": 3,
        "moderation.reply-chunks": 3,
        "moderation.stream-verdicts": 3,
    }


def test_environment_overrides_with_the_dev_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDSTREAM_DEV_KAFKA_PORT", "29092")
    monkeypatch.setenv("GUARDSTREAM_DEV_WITH_POSTGRES", "true")
    monkeypatch.setenv("GUARDSTREAM_DEV_CHAT_EVENTS_TOPIC", "chat.events.test")
    settings = DevStackSettings()
    assert settings.kafka_bootstrap == "127.0.0.1:29092"
    assert settings.with_postgres is True
    assert "chat.events.test" in settings.topics


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        DevStackSettings().kafka_port = 1


def test_clashing_ports_are_rejected() -> None:
    with pytest.raises(ValidationError, match="ports must all differ"):
        DevStackSettings(triton_http_port=19092)


def test_clashing_topic_names_are_rejected() -> None:
    with pytest.raises(ValidationError, match="topic names must all differ"):
        DevStackSettings(flagged_topic="moderation.verdicts")


def test_urls_of_the_components() -> None:
    settings = DevStackSettings()
    assert settings.triton_http_url == "http://127.0.0.1:18000"
    assert settings.triton_grpc_address == "127.0.0.1:18001"
    assert settings.postgres_url == "postgresql+psycopg://guardstream:guardstream@127.0.0.1:15432/guardstream"


def test_repo_root_is_the_folder_holding_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert repository_root(deep) == tmp_path
    assert repository_root() == REPO
