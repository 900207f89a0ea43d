from __future__ import annotations

import re
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devtools.devstack.kafka import (
    broker_argv,
    ensure_topics,
    new_cluster_id,
    render_server_properties,
)
from devtools.devstack.settings import DevStackSettings


def _properties(tmp_path: Path) -> dict[str, str]:
    settings = DevStackSettings(runtime_dir=tmp_path, kafka_port=29092, kafka_controller_port=29093)
    template = (settings.kafka_infra_dir / "server.properties.template").read_text()
    rendered = render_server_properties(template, settings)
    assert "${" not in rendered
    pairs = (line.split("=", 1) for line in rendered.splitlines() if line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_server_properties_describe_a_single_kraft_node_on_loopback(tmp_path: Path) -> None:
    props = _properties(tmp_path)
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == f"{props['node.id']}@127.0.0.1:29093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "data")


def test_server_properties_let_transactions_and_groups_work_on_one_broker(tmp_path: Path) -> None:
    props = _properties(tmp_path)
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"


def test_unknown_placeholder_in_template_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        render_server_properties("x=${nope}\n", DevStackSettings(runtime_dir=tmp_path))


def test_cluster_id_looks_like_kafka_storage_random_uuid() -> None:
    ids = {new_cluster_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", cid) for cid in ids)


def test_broker_command_has_a_small_heap_and_our_properties(tmp_path: Path) -> None:
    settings = DevStackSettings(runtime_dir=tmp_path, cache_dir=tmp_path / "cache", kafka_heap_mb=384)
    argv = broker_argv(settings, "/usr/bin/java")
    assert argv[0] == "/usr/bin/java"
    assert "-Xmx384m" in argv
    assert argv[argv.index("-cp") + 1] == f"{tmp_path / 'cache' / 'kafka' / 'libs'}/*"
    assert argv[-2:] == ["kafka.Kafka", str(tmp_path / "kafka" / "server.properties")]


class FakeAdmin:
    """In-memory stand-in for the AdminClient calls that topic creation makes."""

    def __init__(self, existing: dict[str, int]) -> None:
        self.partitions = dict(existing)
        self.created: list[str] = []
        self.grown: list[str] = []

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        topics = {name: SimpleNamespace(partitions=dict.fromkeys(range(n))) for name, n in self.partitions.items()}
        return SimpleNamespace(topics=topics)

    def create_topics(self, new_topics: list[Any], **kwargs: Any) -> dict[str, Future[None]]:
        for topic in new_topics:
            self.partitions[topic.topic] = topic.num_partitions
            self.created.append(topic.topic)
        return {topic.topic: _done() for topic in new_topics}

    def create_partitions(self, new_partitions: list[Any], **kwargs: Any) -> dict[str, Future[None]]:
        for part in new_partitions:
            self.partitions[part.topic] = part.new_total_count
            self.grown.append(part.topic)
        return {part.topic: _done() for part in new_partitions}


def _done() -> Future[None]:
    future: Future[None] = Future()
    future.set_result(None)
    return future


def test_topics_are_created_once_and_grown_never_shrunk() -> None:
    admin = FakeAdmin({"present": 2, "too.small": 1, "too.big": 9})
    wanted = {"present": 2, "too.small": 3, "too.big": 3, "missing": 6}
    ensure_topics(admin, wanted, deadline=float("inf"))
    assert admin.created == ["missing"]
    assert admin.grown == ["too.small"]
    assert admin.partitions == {"present": 2, "too.small": 3, "too.big": 9, "missing": 6}

    ensure_topics(admin, wanted, deadline=float("inf"))
    assert admin.created == ["missing"] and admin.grown == ["too.small"]
