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
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from guardstream.errors import ConfigurationError
from guardstream.guard.categories import HarmCategory
from guardstream.limits import POLICY_VERSION_CHARS
from guardstream.records import VerdictLabel
from guardstream.settings import PolicySettings, check_band


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


class PolicyFile(Thresholds):
    version: str = Field(min_length=1, max_length=POLICY_VERSION_CHARS)
    categories: dict[HarmCategory, Thresholds] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    unsafe_threshold: float
    review_threshold: float
    by_category: dict[HarmCategory, Thresholds] = field(default_factory=dict)
    escalate_band: tuple[float, float] | None = None

    @classmethod
    def from_settings(cls, settings: PolicySettings) -> Policy:
        """The configured policy file (by default the shipped one), with the settings' band if given."""
        policy = load_policy_file(settings.file)
        if settings.escalate_band is not None:
            policy = replace(policy, escalate_band=settings.escalate_band)
        return policy

    def without_escalation(self) -> Policy:
        """The same thresholds with no escalation band, global or per category: a cascade under this
        policy is the fast guard alone."""
        return replace(
            self,
            escalate_band=None,
            by_category={c: t.model_copy(update={"escalate_band": None}) for c, t in self.by_category.items()},
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
    return Policy(
        parsed.version, parsed.unsafe_threshold, parsed.review_threshold, dict(parsed.categories), parsed.escalate_band
    )


def write_policy_file(policy: Policy, path: Path) -> Path:
    """Write ``policy`` as a file that :func:`load_policy_file` reads back equal; returns ``path``."""
    document = PolicyFile(
        version=policy.version,
        unsafe_threshold=policy.unsafe_threshold,
        review_threshold=policy.review_threshold,
        escalate_band=policy.escalate_band,
        categories=policy.by_category,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(document.model_dump(mode="json", exclude_none=True), allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path
