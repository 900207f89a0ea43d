"""The moderation policy: thresholds that turn a model score into a label.

Kept apart from the model so that changing the policy needs no model change; its version is
stamped on every verdict. A policy file (YAML; the shipped one, ``policy.default.yaml`` beside this
module, unless the settings name another) sets global thresholds and, optionally, stricter or
looser ones per harm category::

    version: "2026-11-28.1"
    unsafe_threshold: 0.5
    review_threshold: 0.35
    escalate_band: [0.3, 0.7]      # optional: fast-guard scores here go on to the generative guard
    categories:
      privacy_property: {unsafe_threshold: 0.4, review_threshold: 0.2}
    blocklists: ["*"]              # the stored blocklists it applies: "*" every one (the default), [] none
    model_unavailable: wait        # or fallback: review verdicts from the blocklists while the model is away,
    fallback_after_s: 30           #   after this long, and the model's verdict as a revision when it returns
    streaming: {debounce_chunks: 2} # streamed LLM replies (guardstream.streaming.rules)
    policies:                      # optional: tenant and channel policies, chosen by event metadata
      - id: kids-rooms
        when: {tenant: acme, channel: kids}
        unsafe_threshold: 0.3      # every field left out is inherited
        review_threshold: 0.15

A scoped policy inherits from the global one and from every less specific scope that covers it
(``{tenant: acme}`` and ``{channel: kids}`` both cover ``{tenant: acme, channel: kids}``; the
tenant's is applied after the channel's). An event is judged by the most specific scope its
``tenant`` and ``channel`` metadata match: tenant and channel, then tenant, then channel, then the
global policy. A scope's verdicts carry its id and version (the file's unless it sets one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from guardstream.errors import ConfigurationError
from guardstream.guard.categories import HarmCategory
from guardstream.limits import POLICY_VERSION_CHARS
from guardstream.records import VerdictLabel
from guardstream.settings import PolicySettings, check_band
from guardstream.streaming.rules import StreamingRules


class Thresholds(BaseModel):
    """p_unsafe at or above ``unsafe_threshold`` is unsafe; from ``review_threshold`` up, review."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unsafe_threshold: float = Field(ge=0.0, le=1.0)
    review_threshold: float = Field(ge=0.0, le=1.0)
    escalate_band: tuple[float, float] | None = Field(
        default=None,
        description="[low, high): a fast-guard p_unsafe in this band is uncertain and goes on to the "
        "generative guard, whose score then decides; none (the default) escalates nothing.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review_threshold > self.unsafe_threshold:
            raise ValueError("review_threshold must not exceed unsafe_threshold")
        check_band(self.escalate_band)
        return self


class ModelUnavailable(StrEnum):
    """What a policy does while the guard model cannot be reached."""

    WAIT = "wait"
    """Verdicts wait for the model (nothing is judged without it)."""
    FALLBACK = "fallback"
    """After ``fallback_after_s``, a review verdict from the blocklists (``decided_by=fallback``); the
    model judges the event again when it returns and its verdict is published as a revision."""


ALL_BLOCKLISTS = "*"
GLOBAL_POLICY_ID = "global"
TENANT_KEY, CHANNEL_KEY = "tenant", "channel"
"""The ChatEvent metadata keys that choose a scoped policy."""

ScopeKey = tuple[str | None, str | None]
"""(tenant, channel) of a scoped policy; None where the scope does not restrict it."""


class ScopeMatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str | None = Field(default=None, min_length=1)
    channel: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _restricts(self) -> ScopeMatch:
        if self.tenant is None and self.channel is None:
            raise ValueError("a scope names a tenant, a channel or both")
        return self


class ScopedPolicyFile(BaseModel):
    """A tenant or channel policy: every field it leaves out is inherited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=POLICY_VERSION_CHARS)
    when: ScopeMatch
    version: str | None = Field(default=None, min_length=1, max_length=POLICY_VERSION_CHARS)
    unsafe_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    review_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    escalate_band: tuple[float, float] | None = None
    categories: dict[HarmCategory, Thresholds] = Field(default_factory=dict)
    blocklists: list[str] | None = None
    model_unavailable: ModelUnavailable | None = None
    fallback_after_s: float | None = Field(default=None, gt=0.0)
    streaming: StreamingRules | None = None


class PolicyFile(Thresholds):
    version: str = Field(min_length=1, max_length=POLICY_VERSION_CHARS)
    categories: dict[HarmCategory, Thresholds] = Field(default_factory=dict)
    blocklists: list[str] = Field(default_factory=lambda: [ALL_BLOCKLISTS])
    model_unavailable: ModelUnavailable = ModelUnavailable.WAIT
    fallback_after_s: float = Field(default=30.0, gt=0.0)
    streaming: StreamingRules = Field(default_factory=StreamingRules)
    policies: list[ScopedPolicyFile] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct_scopes(self) -> PolicyFile:
        ids, scopes = set(), set()
        for scoped in self.policies:
            key = (scoped.when.tenant, scoped.when.channel)
            if scoped.id in ids or scoped.id == GLOBAL_POLICY_ID:
                raise ValueError(f"policy id {scoped.id!r} is used twice")
            if key in scopes:
                raise ValueError(f"two policies have the same scope (tenant={key[0]}, channel={key[1]})")
            ids.add(scoped.id)
            scopes.add(key)
        return self


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    unsafe_threshold: float
    review_threshold: float
    by_category: dict[HarmCategory, Thresholds] = field(default_factory=dict)
    escalate_band: tuple[float, float] | None = None
    id: str = GLOBAL_POLICY_ID
    blocklists: frozenset[str] | None = None
    """The names of the stored blocklists this policy applies; None: every one."""
    scopes: dict[ScopeKey, Policy] = field(default_factory=dict)
    """The tenant and channel policies (each already merged with what it inherits), by scope."""
    model_unavailable: ModelUnavailable = ModelUnavailable.WAIT
    fallback_after_s: float = 30.0
    """With ``model_unavailable=fallback``: how long an event waits for the model before its fallback verdict."""
    streaming: StreamingRules = field(default_factory=StreamingRules)
    """How streamed replies are moderated (:mod:`guardstream.streaming.rules`)."""

    @classmethod
    def from_settings(cls, settings: PolicySettings) -> Policy:
        """The configured policy file (by default the shipped one), with the settings' band if given."""
        policy = load_policy_file(settings.file)
        if settings.escalate_band is not None:
            policy = replace(policy, escalate_band=settings.escalate_band)
        return policy

    def select(self, metadata: Mapping[str, str]) -> Policy:
        """The policy that judges an event with this metadata: the most specific scope it matches
        (tenant and channel, tenant, channel), else this one."""
        if not self.scopes:
            return self
        tenant, channel = metadata.get(TENANT_KEY), metadata.get(CHANNEL_KEY)
        for key in ((tenant, channel), (tenant, None), (None, channel)):
            scoped = self.scopes.get(key) if key != (None, None) else None
            if scoped is not None:
                return scoped
        return self

    @property
    def falls_back(self) -> bool:
        """Whether this policy, or one of its scopes, gives fallback verdicts while the model is away."""
        return self.model_unavailable is ModelUnavailable.FALLBACK or any(
            scoped.model_unavailable is ModelUnavailable.FALLBACK for scoped in self.scopes.values()
        )

    def applies(self, blocklist: str) -> bool:
        return self.blocklists is None or blocklist in self.blocklists

    def without_escalation(self) -> Policy:
        """The same thresholds with no escalation band, global or per category: a cascade under this
        policy is the fast guard alone."""
        return replace(
            self,
            escalate_band=None,
            by_category={c: t.model_copy(update={"escalate_band": None}) for c, t in self.by_category.items()},
            scopes={key: scoped.without_escalation() for key, scoped in self.scopes.items()},
        )

    def escalates(self, p_fast: float, category: HarmCategory | None = None) -> bool:
        """True when the fast guard's score is in the uncertain band (the category's, else the global one)."""
        thresholds = self.by_category.get(category) if category is not None else None
        band = (
            thresholds.escalate_band
            if thresholds is not None and thresholds.escalate_band is not None
            else self.escalate_band
        )
        return band is not None and band[0] <= p_fast < band[1]

    def label(self, p_unsafe: float, category: HarmCategory | None = None) -> VerdictLabel:
        """``unsafe`` at or above the unsafe threshold, ``review`` in the band below it."""
        thresholds = self.by_category.get(category) if category is not None else None
        unsafe = thresholds.unsafe_threshold if thresholds else self.unsafe_threshold
        review = thresholds.review_threshold if thresholds else self.review_threshold
        if p_unsafe >= unsafe:
            return VerdictLabel.UNSAFE
        if p_unsafe >= review:
            return VerdictLabel.REVIEW
        return VerdictLabel.SAFE

    @staticmethod
    def needs_person(label: VerdictLabel) -> bool:
        """Unsafe and uncertain verdicts go to ``moderation.flagged`` for human review."""
        return label is not VerdictLabel.SAFE


FLAGGED_LABELS: tuple[str, ...] = tuple(label.value for label in VerdictLabel if Policy.needs_person(label))
"""The labels whose verdicts go to human review ("unsafe", "review")."""


def load_policy_file(path: Path) -> Policy:
    """Read and validate a policy file; errors name the file and the offending entry."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = PolicyFile.model_validate(raw if raw is not None else {})
    except OSError as exc:
        raise ConfigurationError(f"policy file {path}: cannot read it: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"policy file {path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigurationError(f"policy file {path}: {problems}") from None
    try:
        return _policy(parsed)
    except ValueError as exc:
        raise ConfigurationError(f"policy file {path}: {exc}") from None


def _policy(parsed: PolicyFile) -> Policy:
    root = Policy(
        parsed.version,
        parsed.unsafe_threshold,
        parsed.review_threshold,
        dict(parsed.categories),
        parsed.escalate_band,
        blocklists=_blocklists(parsed.blocklists),
        model_unavailable=parsed.model_unavailable,
        fallback_after_s=parsed.fallback_after_s,
        streaming=parsed.streaming,
    )
    entries = {(scoped.when.tenant, scoped.when.channel): scoped for scoped in parsed.policies}
    scopes = {}
    for key, scoped in entries.items():
        policy = root
        for covering in _covering(key):  # least specific first: what is nearer the event wins
            if covering in entries:
                policy = _inherit(policy, entries[covering], covering)
        scopes[key] = _inherit(policy, scoped, key)
    return replace(root, scopes=scopes)


def _covering(key: ScopeKey) -> list[ScopeKey]:
    """The scopes a (tenant, channel) scope inherits from, least specific first."""
    tenant, channel = key
    return [(None, channel), (tenant, None)] if tenant is not None and channel is not None else []


def _inherit(parent: Policy, scoped: ScopedPolicyFile, key: ScopeKey) -> Policy:
    where = f"policy {scoped.id!r}"
    unsafe = scoped.unsafe_threshold if scoped.unsafe_threshold is not None else parent.unsafe_threshold
    review = scoped.review_threshold if scoped.review_threshold is not None else parent.review_threshold
    band = scoped.escalate_band if scoped.escalate_band is not None else parent.escalate_band
    try:
        Thresholds(unsafe_threshold=unsafe, review_threshold=review, escalate_band=band)
    except ValidationError as exc:
        raise ValueError(f"{where}: {exc.errors()[0]['msg']}") from None
    return Policy(
        scoped.version or parent.version,
        unsafe,
        review,
        parent.by_category | scoped.categories,
        band,
        id=scoped.id if key == (scoped.when.tenant, scoped.when.channel) else parent.id,
        blocklists=_blocklists(scoped.blocklists) if scoped.blocklists is not None else parent.blocklists,
        model_unavailable=scoped.model_unavailable or parent.model_unavailable,
        fallback_after_s=scoped.fallback_after_s or parent.fallback_after_s,
        streaming=scoped.streaming or parent.streaming,
    )


def _blocklists(names: list[str]) -> frozenset[str] | None:
    return None if ALL_BLOCKLISTS in names else frozenset(names)


def write_policy_file(policy: Policy, path: Path) -> Path:
    """Write ``policy`` as a file that :func:`load_policy_file` reads back equal; returns ``path``."""
    scoped = [
        ScopedPolicyFile(id=child.id, when=ScopeMatch(tenant=tenant, channel=channel), **_written(child))
        for (tenant, channel), child in policy.scopes.items()
    ]
    document = PolicyFile(**_written(policy), policies=scoped)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(
        document.model_dump(mode="json", exclude_none=True, exclude_defaults=True), allow_unicode=True, sort_keys=False
    )
    path.write_text(text, encoding="utf-8")
    return path


def _written(policy: Policy) -> dict[str, Any]:
    """The fields a policy and a scoped policy both write (every one explicit: a scope reads back equal)."""
    return {
        "version": policy.version,
        "unsafe_threshold": policy.unsafe_threshold,
        "review_threshold": policy.review_threshold,
        "escalate_band": policy.escalate_band,
        "categories": policy.by_category,
        "blocklists": _names(policy.blocklists),
        "model_unavailable": policy.model_unavailable,
        "fallback_after_s": policy.fallback_after_s,
        "streaming": policy.streaming,
    }


def _names(blocklists: frozenset[str] | None) -> list[str]:
    return [ALL_BLOCKLISTS] if blocklists is None else sorted(blocklists)
