"""Settings of the review web app: ``GUARDSTREAM_REVIEW__<FIELD>`` environment variables."""

from __future__ import annotations

from pydantic import Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from guardstream.errors import ConfigurationError

ENV_PREFIX = "GUARDSTREAM_REVIEW__"


class ReviewSettings(BaseSettings):
    """How the review app serves, signs sessions, leases items and relays feedback."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    allowed_hosts: tuple[str, ...] = Field(
        default=("127.0.0.1", "localhost"),
        description="Host header names (no port) this app answers to; any other gets a 400. Give the public "
        'name it is reached by, e.g. ["review.example.com"]; "*.example.com" covers subdomains.',
    )
    trusted_proxies: tuple[IPvAnyNetwork, ...] = Field(
        default=(),
        description="The reverse proxies in front of this app, as addresses or networks, e.g. "
        '["10.0.0.5", "10.1.0.0/16"]. Only a request whose connection comes from one of them has its '
        "X-Forwarded-For (client: the right-most address that is not one of these proxies) and "
        "X-Forwarded-Proto (scheme, for the Origin check) believed; X-Forwarded-Host never is, so the "
        "proxy must pass the Host header on (nginx: proxy_set_header Host $host). Empty (the default): "
        "forwarding headers are ignored and the connection names client and scheme; behind a proxy that "
        "means every client counts as the proxy's address in the login rate limits.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs session cookies; give every instance the same one. Unset: a random key "
        "per process (sessions end when it restarts).",
    )
    secure_cookies: bool = Field(default=True, description="Secure flag on cookies; off only for local http.")
    session_ttl_s: int = Field(default=8 * 3600, ge=60)
    lease_s: int = Field(default=600, ge=5, description="How long an opened item stays with its reviewer.")
    undo_window_s: float = Field(
        default=30.0, ge=0, description="A label waits this long before it is sent; an undo within it is never sent."
    )
    relay_interval_s: float = Field(default=0.5, gt=0)
    relay_transactional_id: str = "guardstream-review-feedback"
    login_max_failures: int = Field(default=5, ge=1, description="Failed logins per IP and username per window.")
    login_max_failures_per_ip: int = Field(default=50, ge=1)
    login_max_failures_per_account: int = Field(
        default=20,
        ge=1,
        description="Failed logins per username per window, from any address (a spray across many addresses).",
    )
    login_window_s: int = Field(default=300, ge=1)
    explain_max_requests: int = Field(
        default=10, ge=1, description="Explanations one reviewer may ask the model for per explain window."
    )
    explain_window_s: int = Field(default=60, ge=1)
    display_max_chars: int = Field(
        default=20_000,
        ge=100,
        description="Characters of a field the item page shows; longer fields get a link to all of it.",
    )
    timezone: str = Field(default="UTC", description="IANA zone in which times are shown and typed.")
    page_size: int = Field(default=50, ge=1, le=500)
    skip_memory_s: int = Field(default=1800, ge=0, description="A skipped item is not offered again for this long.")

    @field_validator("trusted_proxies")
    @classmethod
    def _not_every_address(cls, networks: tuple[IPvAnyNetwork, ...]) -> tuple[IPvAnyNetwork, ...]:
        if any(network.prefixlen == 0 for network in networks):
            raise ValueError("a network of every address would let any client name its own address; list the proxies")
        return networks


def load_review_settings(**overrides: object) -> ReviewSettings:
    try:
        return ReviewSettings(**overrides)  # type: ignore[arg-type]  # pydantic validates and converts the overrides; their static type is unknown
    except ValidationError as exc:
        problems = [
            f"  {'.'.join(str(p) for p in e['loc'])} ({ENV_PREFIX}{'__'.join(str(p).upper() for p in e['loc'])}): {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigurationError("invalid review settings:\n" + "\n".join(problems)) from None
