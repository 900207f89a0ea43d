"""The escalation agent's own settings (``GUARDSTREAM_ESCALATION_<FIELD>``).

Kafka connection and topic names come from :func:`guardstream.settings.load_settings` (sections
``kafka`` and ``topics``); this section holds only what the agent itself needs.
"""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from guardstream.errors import ConfigurationError

ENV_PREFIX = "GUARDSTREAM_ESCALATION_"


class EscalationSettings(BaseSettings):
    """Frozen and validated at start-up."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    app_id: str = Field(
        default="guardstream-escalation",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="faust app id: the consumer group, and the prefix of the internal topics "
        "(<app_id>-keyed, <app_id>-windows-changelog).",
    )
    partitions: int = Field(default=6, ge=1, le=1024, description="Partitions of the keyed topic and the table.")
    replication_factor: int = Field(default=1, ge=1, le=16, description="Of the internal topics.")
    rules_file: Path | None = Field(default=None, description="Rules YAML; empty: the shipped default rules.")
    action_lookback_s: float = Field(
        default=7 * 86_400.0,
        ge=0,
        description="On start and on every partition assignment the agent reads the actions produced in "
        "this many seconds before now (0: all of the topic), so an action made just before a crash is "
        "never made again. Must exceed the longest time the agent may stay down.",
    )
    instance_id: str = Field(
        default_factory=lambda: f"escalation-{socket.gethostname()}",
        min_length=1,
        description="Stable per agent instance: Kafka static group membership, so a restarted instance "
        "takes its partitions back at once instead of waiting for its dead predecessor's session to expire. "
        "Give each agent on a host its own.",
    )
    session_timeout_s: float = Field(
        default=30.0, ge=6, le=300, description="Group session timeout; heartbeats every tenth of it."
    )
    commit_interval_s: float = Field(default=1.0, gt=0, description="How often consumed offsets commit.")
    produce_timeout_s: float = Field(default=30.0, gt=0, description="Wait for an action's acknowledgement.")
    hottest: int = Field(default=10, ge=1, le=1000, description="How many users and conversations status lists.")
    data_dir: Path | None = Field(
        default=None,
        description="faust's working folder (its table folders; the windows themselves live in memory and in "
        "the changelog topic); empty: <temp dir>/<app_id>-data, never the current directory.",
    )

    @property
    def working_dir(self) -> Path:
        """Where faust keeps its files: :attr:`data_dir`, or a folder named after the app in the temp dir."""
        return self.data_dir or Path(tempfile.gettempdir()) / f"{self.app_id}-data"

    @property
    def keyed_topic(self) -> str:
        """The internal topic of verdicts keyed by user and by conversation."""
        return f"{self.app_id}-keyed"

    @property
    def windows_changelog_topic(self) -> str:
        """The changelog topic of the windows table (faust's naming: <app_id>-<table>-changelog)."""
        return f"{self.app_id}-windows-changelog"


def load_escalation_settings(**overrides: object) -> EscalationSettings:
    """Build and validate the section; errors name the offending variable."""
    try:
        return EscalationSettings(**overrides)  # type: ignore[arg-type]  # pydantic validates and converts the overrides; their static type is unknown
    except ValidationError as exc:
        problems = [
            f"  {'.'.join(map(str, e['loc']))} ({ENV_PREFIX}{'_'.join(map(str, e['loc'])).upper()}): {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigurationError("invalid escalation settings:\n" + "\n".join(problems)) from None
