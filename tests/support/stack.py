"""Finding the real local stack from tests: skip when it is down, fail when CI requires it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from sqlalchemy import Engine, text

from guardstream.audit.engine import build_engine, migrate
from guardstream.settings import Settings, load_settings
from workers.kafka_clients import build_settings_admin_client


def unavailable(
    reason: str, remedy: str = "run `guardstream dev up --postgres` first", *, module: bool = False
) -> None:
    """Skip, or fail when GUARDSTREAM_REQUIRE_STACK=1 (set by `make test`): CI never passes by skipping.
    ``module``: called while a test module is imported (a missing optional import)."""
    if os.environ.get("GUARDSTREAM_REQUIRE_STACK") == "1":
        pytest.fail(f"{reason} (GUARDSTREAM_REQUIRE_STACK=1)", pytrace=False)
    pytest.skip(f"{reason}: {remedy}", allow_module_level=module)


def stack_settings() -> Settings:
    """The settings of the local stack, once its broker answers."""
    settings = load_settings()
    try:
        build_settings_admin_client(settings.kafka).list_topics(timeout=10)
    except KafkaException as exc:
        unavailable(f"no Kafka broker at {settings.kafka.bootstrap_servers} ({exc})")
    return settings


def postgres_base_url() -> str:
    url = os.environ.get("GUARDSTREAM_TEST_POSTGRES_URL")
    if not url:
        unavailable("GUARDSTREAM_TEST_POSTGRES_URL is not set")
    return url or ""


@contextmanager
def postgres_schema(prefix: str = "test") -> Iterator[str]:
    """A URL whose connections live in a schema of their own, dropped afterwards."""
    base = postgres_base_url()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with build_engine(base).begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with build_engine(base).begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@contextmanager
def migrated_audit_engine(kind: str, tmp_path: Path) -> Iterator[Engine]:
    """An audit database at the newest migration: ``sqlite`` in ``tmp_path``, or ``postgresql`` in a schema of its own."""
    with ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'audit.db'}" if kind == "sqlite" else stack.enter_context(postgres_schema())
        engine = build_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()
