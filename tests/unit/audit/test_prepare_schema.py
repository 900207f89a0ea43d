"""Where migrations run apart (audit.migrate_on_start false: the Helm chart's migration job), a service
only checks the schema: it starts on a current one, and stops on one that is behind, naming the command."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from guardstream.audit.engine import alembic_config, build_engine, prepare_schema
from guardstream.errors import ConfigurationError
from guardstream.settings import load_settings


def test_the_setting_is_on_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().audit.migrate_on_start is True
    monkeypatch.setenv("GUARDSTREAM_AUDIT__MIGRATE_ON_START", "false")
    assert load_settings().audit.migrate_on_start is False


def test_a_check_refuses_an_empty_store_and_creates_nothing(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    with pytest.raises(ConfigurationError, match=r"no migration.*guardstream audit migrate"):
        prepare_schema(engine, migrate_on_start=False)
    assert inspect(engine).get_table_names() == []


def test_a_check_refuses_a_schema_one_migration_behind(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    prepare_schema(engine, migrate_on_start=True)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    with pytest.raises(ConfigurationError, match="not the newest"):
        prepare_schema(engine, migrate_on_start=False)


def test_a_check_passes_on_a_migrated_store(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    prepare_schema(engine, migrate_on_start=True)
    tables = set(inspect(engine).get_table_names())
    assert "verdicts" in tables
    prepare_schema(engine, migrate_on_start=False)
    assert set(inspect(engine).get_table_names()) == tables
