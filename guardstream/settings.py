"""Typed, frozen, validated settings; each component receives only its own slice.

Values come from (highest priority first) constructor arguments, environment variables
``GUARDSTREAM_<SECTION>__<FIELD>`` (for example ``GUARDSTREAM_WORKER__BATCH_MAX_SIZE=32``), a
YAML file named by ``GUARDSTREAM_CONFIG``, and the defaults below, which run the local stack that
``guardstream dev up`` starts.
"""

from __future__ import annotations

import os
import socket
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from guardstream.errors import ConfigurationError
from guardstream.limits import TEXT_CHARS, WORKER_ID_CHARS
from guardstream.paths import runtime_dir

SHIPPED_POLICY_FILE = Path(__file__).with_name("policy.default.yaml")
"""The policy a worker uses when no other is configured; package data, so installs carry it."""

ENV_PREFIX = "GUARDSTREAM_"
CONFIG_FILE_ENV = "GUARDSTREAM_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    """How every Kafka client of ours connects.

    Secrets come from the environment or from files read once at start-up (``*_file``; a
    trailing newline is dropped), are held as ``SecretStr`` and never appear in repr, logs or
    errors. With TLS (``SSL``/``SASL_SSL``) the broker's certificate is checked against
    ``ssl_ca_location``, or against the system's CA store when ``ssl_ca_system`` is true.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    bootstrap_servers: str = "127.0.0.1:19092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = Field(
        default=None, description="A file holding the SASL password (instead of sasl_password)."
    )
    ssl_ca_location: Path | None = Field(
        default=None, description="PEM file of the CA(s) that signed the brokers' certificates."
    )
    ssl_ca_system: bool = Field(default=False, description="Trust the system's CA store instead of ssl_ca_location.")
    ssl_certificate_location: Path | None = Field(default=None, description="Client certificate (PEM) for mutual TLS.")
    ssl_key_location: Path | None = Field(default=None, description="Client private key (PEM) for mutual TLS.")
    ssl_key_password: SecretStr | None = Field(default=None, description="Password of an encrypted client key.")
    ssl_key_password_file: Path | None = Field(default=None, description="A file holding ssl_key_password.")
    ssl_endpoint_identification: bool = Field(
        default=True, description="Check that the broker's certificate names the host connected to (keep on)."
    )
    schema_registry_url: str | None = Field(
        default=None, description="Confluent schema registry; when set, outputs use its framing."
    )

    _sasl_secret: SecretStr | None = PrivateAttr(default=None)
    _ssl_key_secret: SecretStr | None = PrivateAttr(default=None)

    @field_validator(
        "sasl_password_file", "ssl_ca_location", "ssl_certificate_location", "ssl_key_location", "ssl_key_password_file"
    )
    @classmethod
    def _readable_file(cls, path: Path | None) -> Path | None:
        if path is not None:
            _read_file(path)
        return path

    @model_validator(mode="after")
    def _consistent_security(self) -> KafkaSettings:
        self._sasl_secret = _one_secret(self, "sasl_password")
        self._ssl_key_secret = _one_secret(self, "ssl_key_password")
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self._sasl_secret
        ):
            raise ValueError(
                f"security_protocol={self.security_protocol} needs {_named('sasl_mechanism')}, "
                f"{_named('sasl_username')} and {_named('sasl_password')} or {_named('sasl_password_file')}"
            )
        if self.uses_tls and (self.ssl_ca_location is None) == (not self.ssl_ca_system):
            raise ValueError(
                f"security_protocol={self.security_protocol} needs exactly one of {_named('ssl_ca_location')}, "
                f"the CA that signed the brokers' certificates, and {_named('ssl_ca_system')}=true, the system's CA store"
            )
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise ValueError(
                f"mutual TLS needs both {_named('ssl_certificate_location')} and {_named('ssl_key_location')}"
            )
        if self._ssl_key_secret is not None and self.ssl_key_location is None:
            raise ValueError(f"{_named('ssl_key_password')} is set but {_named('ssl_key_location')} is not")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl_secret(self) -> SecretStr | None:
        """The SASL password: ``sasl_password``, or the content of ``sasl_password_file``."""
        return self._sasl_secret

    @property
    def ssl_key_secret(self) -> SecretStr | None:
        """The client key's password: ``ssl_key_password``, or the content of ``ssl_key_password_file``."""
        return self._ssl_key_secret


def _named(field: str) -> str:
    return f"kafka.{field} ({ENV_PREFIX}KAFKA__{field.upper()})"


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None


def _one_secret(kafka: KafkaSettings, field: str) -> SecretStr | None:
    """The secret given inline (``field``) or in a file (``field_file``); never both."""
    inline: SecretStr | None = getattr(kafka, field)
    file: Path | None = getattr(kafka, f"{field}_file")
    if inline is not None and file is not None:
        raise ValueError(f"set one of {_named(field)} and {_named(field + '_file')}, not both")
    if file is None:
        return inline
    value = _read_file(file).rstrip("\r\n")
    if not value:
        raise ValueError(f"{_named(field + '_file')}: {file} is empty")
    return SecretStr(value)


class TopicSettings(_Section):
    """Topic names; the contracts are in schemas/."""

    chat_events: str = "chat.events"
    verdicts: str = "moderation.verdicts"
    flagged: str = "moderation.flagged"
    dlq: str = "moderation.dlq"
    feedback: str = "moderation.feedback"
    actions: str = "moderation.actions"
    analyses: str = "moderation.analyses"
    rejudge: str = Field(
        default="moderation.rejudge",
        description="Events that got a fallback verdict while the model was away, read again by the workers "
        "to be judged by the model (its verdict is published as revision 1). Used only by a policy with "
        "model_unavailable: fallback.",
    )
    reply_chunks: str = Field(
        default="moderation.reply-chunks",
        description="Streamed LLM replies, chunk by chunk, keyed by stream_id (read by guardstream stream-worker).",
    )
    stream_verdicts: str = Field(
        default="moderation.stream-verdicts",
        description="A provisional decision per reply chunk and the retractions, keyed by stream_id.",
    )
    stream_state: str = Field(
        default="moderation.stream-state",
        description="The stream workers' changelog (compacted, one record per open stream, partitioned like "
        "reply_chunks): created by the stream worker when missing.",
    )


class TritonSettings(_Section):
    """Where the guard model is served."""

    grpc_url: str = "127.0.0.1:18001"
    model_name: str = "guard"
    explain_model_name: str = "guard_explain"
    fast_model_name: str = Field(
        default="guard_fast",
        description="The cascade's first stage, which scores every event (the fast guard); empty: no "
        "cascade, the generative guard (model_name) scores every event.",
    )
    fast_model_version: str = Field(
        default="", description="Pin one version of the fast guard; empty: the current one."
    )
    model_version: str = Field(
        default="",
        description="Pin one version; empty: follow the version promoted as current (guardstream model promote).",
    )
    version_poll_s: float = Field(default=2.0, gt=0, description="How often workers re-read the current version.")
    request_timeout_s: float = Field(default=60.0, gt=0)
    retry_initial_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)


class AuditSettings(_Section):
    """The SQL audit store: SQLite by default, PostgreSQL in production."""

    url: str = Field(default_factory=lambda: f"sqlite:///{runtime_dir() / 'audit.db'}")
    migrate_on_start: bool = Field(
        default=True,
        description="The services (worker, analysis, stream worker, review app) bring the schema to the newest "
        "migration when they start; false: they only check it is current and stop otherwise, as where a "
        "deployment runs `guardstream audit migrate` apart (the Helm chart's migration job).",
    )
    retry_initial_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _known_dialect(self) -> AuditSettings:
        if not self.url.startswith(("sqlite:", "postgresql")):
            raise ValueError("url must be a sqlite:/// or postgresql+psycopg:// SQLAlchemy URL")
        return self


def check_band(band: tuple[float, float] | None) -> tuple[float, float] | None:
    """An escalation band must be [low, high) with 0 <= low < high <= 1."""
    if band is not None and not 0.0 <= band[0] < band[1] <= 1.0:
        raise ValueError(f"escalate_band must be [low, high) with 0 <= low < high <= 1, got {list(band)}")
    return band


class PolicySettings(_Section):
    """Which policy file maps p_unsafe to safe / review / unsafe (see :mod:`guardstream.policy`)."""

    file: Path = Field(
        default=SHIPPED_POLICY_FILE,
        description="A policy YAML file: version, global and per-category thresholds. Default: the shipped "
        "guardstream/policy.default.yaml (infra/policy/default.yaml links to it).",
    )
    escalate_band: tuple[float, float] | None = Field(
        default=None,
        description="Overrides the policy file's global escalate_band ([low, high) of fast-guard scores that go "
        "on to the generative guard); unset: the file's.",
    )
    shadow_file: Path | None = Field(
        default=None,
        description="A second policy file judged beside the acting one, observe-only: its decisions go to the "
        "audit store (shadow_decisions) and the guardstream_shadow_decisions_total metric, never to a verdict "
        "topic. Unset: no shadow policy.",
    )
    blocklist_refresh_s: float = Field(
        default=5.0,
        gt=0.0,
        description="How often a worker asks the audit store whether a blocklist changed (and reloads them all if "
        "one did): a change reaches running workers within this many seconds.",
    )

    @model_validator(mode="after")
    def _band(self) -> PolicySettings:
        check_band(self.escalate_band)
        return self


class WorkerSettings(_Section):
    """The moderation worker's batching, flow control and limits."""

    group_id: str = "guardstream-moderation"
    worker_id: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=WORKER_ID_CHARS,
        description="Stable per instance: it names the Kafka transactional id, so a restarted "
        "worker fences its crashed predecessor at once. Give each worker on a host its own.",
    )
    transactional_id_prefix: str = "guardstream-moderation"
    batch_max_size: int = Field(default=64, ge=1, le=4096)
    batch_max_wait_ms: float = Field(default=20.0, gt=0)
    max_in_flight: int = Field(default=4, ge=1, le=256)
    commit_interval_ms: float = Field(default=100.0, gt=0)
    max_text_chars: int = Field(default=TEXT_CHARS, ge=1)
    dlq_payload_max_bytes: int = Field(default=65_536, ge=0)
    drain_timeout_s: float = Field(default=30.0, gt=0)
    stall_timeout_s: float = Field(
        default=90.0,
        gt=0,
        description="How long the consumer may deliver nothing it should while Kafka answers (no assignment "
        "after the worker started or lost its partitions; or, with nothing in flight and nothing paused, no "
        "record though its partitions hold some past its position) before the worker starts again with a new "
        "consumer: librdkafka was seen doing both after a broker restart.",
    )


class StreamSettings(_Section):
    """The stream worker (guardstream stream-worker): streamed LLM replies, moderated chunk by chunk."""

    group_id: str = "guardstream-streams"
    transactional_id_prefix: str = "guardstream-streams"
    fast_model_name: str = Field(
        default="guard_fast_stream",
        description="Triton model that scores streams for policies with streaming.model: fast.",
    )
    generative_model_name: str = Field(
        default="guard_stream",
        description="Triton model that scores streams for policies with streaming.model: generative.",
    )
    max_poll_records: int = Field(default=500, ge=1, le=10_000, description="Chunks read per cycle at most.")
    finished_retention_s: float = Field(
        default=3600.0,
        gt=0,
        description="How long a finished stream's marker is kept (in memory and in the changelog): a chunk of it "
        "that arrives this late is skipped as a duplicate; later it would open a new stream.",
    )
    retry_timeout_s: float = Field(
        default=120.0,
        gt=0,
        le=240,
        description="How long a cycle is retried while Triton or Kafka fails before the worker exits (a restart "
        "resumes from the changelog); below Kafka's max.poll.interval.ms.",
    )


class AnalysisSettings(_Section):
    """Verdict first, analysis after: explain mode for every flagged verdict, off the critical path.

    Each worker runs an analysis loop on its own thread (``guardstream analysis`` runs it alone):
    it reads ``moderation.flagged`` in its own consumer group, asks the explain model in small
    batches, records each analysis in the audit store and produces it to ``moderation.analyses``
    together with its input offsets, in one Kafka transaction.
    """

    enabled: bool = Field(default=True, description="Run the analysis loop inside each worker.")
    group_id: str | None = Field(
        default=None, description="Consumer group of the analysis loops; default: the worker's group_id + '-analysis'."
    )
    batch_max_size: int = Field(default=8, ge=1, le=256, description="Flagged verdicts per explain request.")
    batch_max_wait_ms: float = Field(default=200.0, gt=0, description="How long a batch waits to fill up.")
    drain_timeout_s: float = Field(default=30.0, gt=0, description="On shutdown, time to finish the batch at hand.")
    verdict_lag_limit: int = Field(
        default=500, ge=0,
        description="Verdicts first: inside a worker, explain requests wait while the worker's own consumer is "
        "paused or its lag (chat events not committed yet) is above this, so that explain mode never takes "
        "Triton's time from a verdict path that is behind.",
    )  # fmt: skip


class TelemetrySettings(_Section):
    """Health and metrics over HTTP, and OpenTelemetry export (traces and metrics over OTLP)."""

    metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="Port of /healthz, /readyz and /metrics (Prometheus text); 0 turns the server off. "
        "Give each worker on a host its own.",
    )
    metrics_host: str = Field(default="0.0.0.0", description="Address the health and metrics server binds.")
    liveness_timeout_s: float = Field(
        default=60.0, gt=0, description="/healthz fails when the worker loop has not turned for this long."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP base URL (for example http://collector:4318); traces and metrics go to "
        "<endpoint>/v1/traces and /v1/metrics. Unset: OTEL_EXPORTER_OTLP_ENDPOINT, else no export.",
    )
    otlp_headers: SecretStr | None = Field(
        default=None,
        description="Extra OTLP request headers, 'key=value,key=value', added to OTEL_EXPORTER_OTLP_HEADERS's "
        "(these win on the same header).",
    )
    otlp_timeout_s: float = Field(default=10.0, gt=0)
    metric_export_interval_s: float = Field(default=15.0, gt=0, description="How often metrics are pushed over OTLP.")
    trace_sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of traces recorded when an event arrives without a sampling decision; an event "
        "with a traceparent follows its producer's decision (parent-based).",
    )
    service_name: str = "guardstream-moderation"
    kafka_stats_interval_ms: int = Field(
        default=2000, ge=100, description="librdkafka statistics interval: consumer lag and broker states."
    )


class Settings(BaseSettings):
    """Everything guardstream reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", frozen=True, extra="forbid", hide_input_in_errors=True
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    triton: TritonSettings = TritonSettings()
    audit: AuditSettings = Field(default_factory=AuditSettings)
    policy: PolicySettings = PolicySettings()
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    analysis: AnalysisSettings = AnalysisSettings()
    streams: StreamSettings = StreamSettings()
    telemetry: TelemetrySettings = TelemetrySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _YamlFileSource(settings_cls)


class _YamlFileSource(YamlConfigSettingsSource):
    """The YAML file named by ``GUARDSTREAM_CONFIG``, if any. A file that is missing or unreadable,
    or holds no mapping, stops start-up with an error that names it."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        path = os.environ.get(CONFIG_FILE_ENV) or None
        if path and not Path(path).is_file():
            raise ConfigurationError(f"{CONFIG_FILE_ENV}={path}: cannot read settings file: no such file")
        super().__init__(settings_cls, yaml_file=path)

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        try:
            loaded: object = super()._read_file(file_path)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"{CONFIG_FILE_ENV}={file_path}: cannot read settings file: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigurationError(f"{CONFIG_FILE_ENV}={file_path}: expected a mapping at the top")
        return loaded


def load_settings(**overrides: Any) -> Settings:
    """Build and validate the settings; errors name each offending setting and its variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            dotted = ".".join(str(part) for part in error["loc"])
            variable = ENV_PREFIX + "__".join(str(part).upper() for part in error["loc"])
            problems.append(f"  {dotted} ({variable}): {error['msg']}")
        raise ConfigurationError("invalid settings:\n" + "\n".join(problems)) from None
