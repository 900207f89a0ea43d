"""The one place that builds confluent-kafka clients.

Everything else depends on the clients' methods only, so unit tests hand in fakes and
integration tests the real thing. Secrets come from the settings (environment or file) and are
never logged.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from guardstream.settings import KafkaSettings


def connection_config(kafka: KafkaSettings) -> dict[str, Any]:
    """Bootstrap and security settings shared by every client."""
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol,
    }
    if kafka.sasl_mechanism:
        config["sasl.mechanism"] = kafka.sasl_mechanism
        config["sasl.username"] = kafka.sasl_username
        config["sasl.password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    if kafka.ssl_ca_location:
        config["ssl.ca.location"] = str(kafka.ssl_ca_location)
    return config


def build_admin_client(bootstrap: str) -> AdminClient:
    """An admin client for the brokers at ``bootstrap`` (host:port[,host:port…])."""
    return AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000})


def build_settings_admin_client(kafka: KafkaSettings) -> AdminClient:
    return AdminClient(connection_config(kafka))


def build_moderation_consumer(kafka: KafkaSettings, group_id: str, client_id: str) -> Consumer:
    """The worker's consumer: offsets move only inside the output transaction."""
    return Consumer(
        {
            **connection_config(kafka),
            "group.id": group_id,
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "partition.assignment.strategy": "cooperative-sticky",
            "fetch.max.bytes": 16 * 1024 * 1024,
            "queued.max.messages.kbytes": 16 * 1024,
        }
    )


def build_transactional_producer(kafka: KafkaSettings, transactional_id: str) -> Producer:
    """A producer whose records and consumer offsets commit together or not at all."""
    return Producer(
        {
            **connection_config(kafka),
            "transactional.id": transactional_id,
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
            "transaction.timeout.ms": 60_000,
        }
    )


def build_producer(kafka: KafkaSettings, **overrides: Any) -> Producer:
    """A plain idempotent producer (load generators, the review app's feedback)."""
    return Producer({**connection_config(kafka), "enable.idempotence": True, "linger.ms": 5, **overrides})


def build_reader(kafka: KafkaSettings, group_id: str, **overrides: Any) -> Consumer:
    """A ``read_committed`` consumer for tools and tests that read the output topics."""
    return Consumer(
        {
            **connection_config(kafka),
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            **overrides,
        }
    )
