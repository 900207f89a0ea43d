"""The local stack, once `guardstream dev up` has run: a real broker, a real Triton server."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable

import pytest

from devtools.devstack import stack
from devtools.devstack.probes import http_ok
from devtools.devstack.settings import DevStackSettings
from guardstream.settings import KafkaSettings, TritonSettings
from tests.support.stack import unavailable
from workers.kafka_clients import build_admin_client, build_transactional_producer

pytestmark = pytest.mark.integration


SETTLE_S = 60.0
"""How long the stack may take to answer healthy: Triton's strict readiness says not ready while a
test beside these loads a model of its own, and a saturated CPU slows every answer."""


def settles(healthy: Callable[[], bool]) -> bool:
    """Whether ``healthy`` comes true within :data:`SETTLE_S`, asked once a second."""
    deadline = time.monotonic() + SETTLE_S
    while not healthy():
        if time.monotonic() > deadline:
            return False
        time.sleep(1.0)
    return True


@pytest.fixture(scope="module")
def settings() -> DevStackSettings:
    settings = DevStackSettings()

    def unhealthy() -> list[str]:
        return [row.name for row in stack.status(settings) if row.name in ("kafka", "triton") and not row.healthy]

    if not settles(lambda: not unhealthy()):
        unavailable(f"dev stack not up ({', '.join(unhealthy())})", "run `guardstream dev up` first")
    return settings


def test_broker_has_every_pipeline_topic_with_its_partition_count(settings: DevStackSettings) -> None:
    metadata = build_admin_client(settings.kafka_bootstrap).list_topics(timeout=10)
    assert {name: len(metadata.topics[name].partitions) for name in settings.topics if name in metadata.topics} == (
        settings.topics
    )


def test_single_broker_supports_transactions(settings: DevStackSettings) -> None:
    """The exactly-once path needs the transaction coordinator (replication factor 1, min ISR 1)."""
    producer = build_transactional_producer(
        KafkaSettings(bootstrap_servers=settings.kafka_bootstrap), f"devstack-test-{uuid.uuid4()}"
    )
    producer.init_transactions(15)
    producer.begin_transaction()
    producer.produce(settings.dlq_topic, key=b"devstack-test", value=b"transaction probe")
    producer.commit_transaction(15)


def test_triton_is_live_and_ready(settings: DevStackSettings) -> None:
    with urllib.request.urlopen(f"{settings.triton_http_url}/v2/health/live", timeout=5) as response:
        assert response.status == 200
    ready = f"{settings.triton_http_url}/v2/health/ready"
    assert settles(lambda: http_ok(ready, timeout_s=5.0)), f"Triton not ready for {SETTLE_S:.0f} s"


def test_triton_serves_the_model_repository_in_explicit_control_mode(settings: DevStackSettings) -> None:
    request = urllib.request.Request(f"{settings.triton_http_url}/v2/repository/index", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        models = json.loads(response.read())
    # The models the workers are served are ready; tests running beside this one may be loading or
    # unloading models of their own (the flaky guard), which are not the stack's.
    triton = TritonSettings()
    served = {name for name in (triton.model_name, triton.explain_model_name, triton.fast_model_name) if name}
    # The index keeps a version that was unloaded (a test that published version 2 and rolled back):
    # a model is served while one of its versions is ready.
    ready = {model["name"] for model in models if model.get("state") == "READY"}
    assert served <= ready, models


def test_postgres_accepts_the_project_role_when_enabled(settings: DevStackSettings) -> None:
    if "postgres" not in {row.name for row in stack.status(settings)}:
        unavailable("PostgreSQL is not part of this stack", "run `guardstream dev up --postgres`")
    import sqlalchemy as sa

    engine = sa.create_engine(settings.postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_user, current_database()")).one() == (
                "guardstream",
                "guardstream",
            )
    finally:
        engine.dispose()
