"""Fixtures over the real local stack (`guardstream dev up --postgres`).

When the stack is not up the tests skip, unless GUARDSTREAM_REQUIRE_STACK=1 (set by `make test`),
in which case they fail: CI must never pass by skipping them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic
from tritonclient.utils import InferenceServerException

from guardstream.errors import GuardstreamError
from guardstream.settings import Settings, TopicSettings
from tests.support.stack import postgres_base_url, stack_settings, unavailable
from workers.kafka_clients import build_settings_admin_client
from workers.triton_client import GuardModelClient, ensure_loaded


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return stack_settings()


@pytest.fixture(scope="session")
def triton_ready(base_settings: Settings) -> None:
    client = GuardModelClient(base_settings.triton)
    try:
        client.check_contract(base_settings.worker.batch_max_size)
    except GuardstreamError as exc:
        unavailable(f"Triton guard model not ready: {exc}")
    finally:
        client.close()


@pytest.fixture(scope="session")
def stream_models_ready(base_settings: Settings) -> None:
    """The stream models, loaded on first use: make test's Triton starts without them (GUARDSTREAM_DEV_TRITON_MODELS)."""
    streams = base_settings.streams
    try:
        ensure_loaded(base_settings.triton, [streams.fast_model_name, streams.generative_model_name])
    except InferenceServerException as exc:
        unavailable(f"Triton stream models not loaded: {exc}")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return postgres_base_url()


@pytest.fixture()
def fresh_topics(base_settings: Settings) -> Iterator[TopicSettings]:
    """Pipeline topics of this test only, so tests never see each other's data."""
    suffix = uuid.uuid4().hex[:10]
    topics = TopicSettings(
        chat_events=f"test.chat.events.{suffix}",
        verdicts=f"test.verdicts.{suffix}",
        flagged=f"test.flagged.{suffix}",
        dlq=f"test.dlq.{suffix}",
        feedback=f"test.feedback.{suffix}",
        actions=f"test.actions.{suffix}",
        analyses=f"test.analyses.{suffix}",
    )
    partitions = {topics.chat_events: 3, topics.verdicts: 3, topics.flagged: 2, topics.dlq: 1, topics.analyses: 2}
    admin = build_settings_admin_client(base_settings.kafka)
    big = {"max.message.bytes": str(4 * 1024 * 1024)}
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=count, replication_factor=1, config=big) for name, count in partitions.items()]
    )
    for future in futures.values():
        future.result(timeout=30)
    yield topics
    for future in admin.delete_topics(list(partitions), operation_timeout=30).values():
        future.result(timeout=30)


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'audit.db'}"
