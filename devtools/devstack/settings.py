"""Settings of the local real-component stack (`guardstream dev up|down|status`).

Every field can be overridden by an environment variable with the prefix ``GUARDSTREAM_DEV_``
(``GUARDSTREAM_DEV_KAFKA_PORT=29092``, ``GUARDSTREAM_DEV_WITH_POSTGRES=true`` …). The defaults put
every port in a range that does not clash with a system Kafka, Triton or PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from guardstream.paths import repository_root

LOOPBACK = "127.0.0.1"


def _repo_path(name: str) -> Path:
    return repository_root() / name


class DevStackSettings(BaseSettings):
    """Ports, folders and topic layout of the local stack; frozen and validated on creation."""

    model_config = SettingsConfigDict(env_prefix="GUARDSTREAM_DEV_", frozen=True, extra="ignore")

    # --- ports (all bound to 127.0.0.1) ---
    kafka_port: int = Field(default=19092, ge=1, le=65535, description="Kafka PLAINTEXT listener")
    kafka_controller_port: int = Field(default=19093, ge=1, le=65535, description="KRaft controller")
    triton_http_port: int = Field(default=18000, ge=1, le=65535)
    triton_grpc_port: int = Field(default=18001, ge=1, le=65535)
    triton_metrics_port: int = Field(default=18002, ge=1, le=65535)
    postgres_port: int = Field(default=15432, ge=1, le=65535)
    kafka_sasl_ssl_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="optional Kafka SASL_SSL (SCRAM over TLS) client listener; off when unset",
    )

    # --- the SASL_SSL listener's certificates and users (only with kafka_sasl_ssl_port) ---
    kafka_ssl_keystore: Path | None = Field(
        default=None, description="PEM file: the broker's PKCS#8 private key (unencrypted) and its certificate chain"
    )
    kafka_ssl_truststore: Path | None = Field(
        default=None, description="PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS)"
    )
    kafka_scram_users_file: Path | None = Field(
        default=None, description="SCRAM users to create or update on every `up`: one `name:password` per line"
    )

    # --- components ---
    with_postgres: bool = Field(default=False, description="also run a project-owned PostgreSQL")
    postgres_version: int = Field(default=15, description="Debian's PostgreSQL major version")
    postgres_cluster: str = Field(default="guardstream", pattern=r"^[a-z][a-z0-9_]*$")

    # --- folders ---
    runtime_dir: Path = Field(default_factory=lambda: _repo_path(".run"))
    cache_dir: Path = Field(default_factory=lambda: _repo_path(".cache"))
    model_repository: Path = Field(default_factory=lambda: _repo_path("triton_models"))
    triton_models: str = Field(
        default="*",
        pattern=r"^(\*|[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*)$",
        description="models Triton loads at start: * for every model of the repository, or a comma-separated "
        "list (the others can be loaded later through the repository API, as the stream tests do)",
    )
    kafka_infra_dir: Path = Field(default_factory=lambda: _repo_path("infra/local/kafka"))

    # --- resources and deadlines ---
    kafka_heap_mb: int = Field(default=512, ge=128, description="broker JVM heap (-Xmx)")
    kafka_start_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="a restart after SIGKILL recovers every partition's log first: measured 55-60 s on 2 busy cores",
    )
    triton_start_timeout_s: float = Field(default=180.0, gt=0, description="model loading included")
    postgres_start_timeout_s: float = Field(default=60.0, gt=0)
    stop_timeout_s: float = Field(default=20.0, gt=0, description="SIGTERM grace before SIGKILL")

    # --- topics: names and partition counts ---
    chat_events_topic: str = "chat.events"
    chat_events_partitions: int = Field(default=6, ge=1)
    verdicts_topic: str = "moderation.verdicts"
    verdicts_partitions: int = Field(default=6, ge=1)
    flagged_topic: str = "moderation.flagged"
    flagged_partitions: int = Field(default=3, ge=1)
    dlq_topic: str = "moderation.dlq"
    dlq_partitions: int = Field(default=1, ge=1)
    feedback_topic: str = "moderation.feedback"
    feedback_partitions: int = Field(default=1, ge=1)
    actions_topic: str = "moderation.actions"
    actions_partitions: int = Field(default=3, ge=1)
    analyses_topic: str = "moderation.analyses"
    analyses_partitions: int = Field(default=3, ge=1)
    rejudge_topic: str = "moderation.rejudge"
    rejudge_partitions: int = Field(default=3, ge=1)
    reply_chunks_topic: str = "moderation.reply-chunks"
    reply_chunks_partitions: int = Field(default=3, ge=1)
    stream_verdicts_topic: str = "moderation.stream-verdicts"
    stream_verdicts_partitions: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _distinct_ports_and_topics(self) -> Self:
        ports = [
            self.kafka_port,
            self.kafka_controller_port,
            self.triton_http_port,
            self.triton_grpc_port,
            self.triton_metrics_port,
            self.postgres_port,
        ]
        if self.kafka_sasl_ssl_port is not None:
            ports.append(self.kafka_sasl_ssl_port)
            if self.kafka_ssl_keystore is None:
                raise ValueError("kafka_sasl_ssl_port needs kafka_ssl_keystore (GUARDSTREAM_DEV_KAFKA_SSL_KEYSTORE)")
        if len(set(ports)) != len(ports):
            raise ValueError(f"the dev stack's ports must all differ, got {ports}")
        names = list(self.topics)
        if len(self.topics) != 10:
            raise ValueError(f"the dev stack's topic names must all differ, got {names}")
        return self

    # --- derived values the rest of the project reads ---
    @property
    def topics(self) -> dict[str, int]:
        """Topic name → partition count, in data-flow order."""
        return {
            self.chat_events_topic: self.chat_events_partitions,
            self.verdicts_topic: self.verdicts_partitions,
            self.flagged_topic: self.flagged_partitions,
            self.analyses_topic: self.analyses_partitions,
            self.dlq_topic: self.dlq_partitions,
            self.feedback_topic: self.feedback_partitions,
            self.actions_topic: self.actions_partitions,
            self.rejudge_topic: self.rejudge_partitions,
            self.reply_chunks_topic: self.reply_chunks_partitions,
            self.stream_verdicts_topic: self.stream_verdicts_partitions,
        }

    @property
    def kafka_bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.kafka_port}"

    @property
    def kafka_sasl_ssl_bootstrap(self) -> str | None:
        """host:port of the SASL_SSL listener, None when it is off."""
        return f"{LOOPBACK}:{self.kafka_sasl_ssl_port}" if self.kafka_sasl_ssl_port else None

    @property
    def triton_http_url(self) -> str:
        return f"http://{LOOPBACK}:{self.triton_http_port}"

    @property
    def triton_grpc_address(self) -> str:
        """host:port as tritonclient.grpc expects it."""
        return f"{LOOPBACK}:{self.triton_grpc_port}"

    @property
    def triton_metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.triton_metrics_port}/metrics"

    @property
    def postgres_url(self) -> str:
        """SQLAlchemy URL of the project-owned database (psycopg 3 driver)."""
        return f"postgresql+psycopg://guardstream:guardstream@{LOOPBACK}:{self.postgres_port}/guardstream"

    @property
    def logs_dir(self) -> Path:
        return self.runtime_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.runtime_dir / "pids"
