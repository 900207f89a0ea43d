"""Escalation rules: a versioned, validated YAML file turned into frozen typed rules.

Three rule types, each evaluated per key (a user or a conversation) and per event-time window:

* ``count`` — at least ``threshold`` matching verdicts in the window (``3 unsafe in 10 minutes →
  mute 1 hour``). Fires as soon as the threshold is reached.
* ``category`` — any matching verdict in one of the named categories (``any unsafe in
  illegal_activities → escalate to a human``). Fires on the first one; the window only bounds how
  often it fires for one key (once per window).
* ``rate`` — the share of matching verdicts among all verdicts of the key reaches ``min_ratio``
  with at least ``min_events`` matching ones (``sustained review rate → flag the conversation``).
  Evaluated once, when the window closes, so it judges the whole window.

A verdict *matches* a rule when its label is in ``labels``, if the rule names categories, one of
its categories (scored at least ``min_category_score``) is named, and, if the rule names
``policies``, the verdict was judged by one of them (a tenant's or channel's policy id, or
``global``): a children's room can act on one unsafe verdict where a game lobby waits for three. Verdicts whose model
names no category (today's default model) carry the pseudo-category ``uncategorized``, which a
rule may name too. Category names are Libra-Test's scenario slugs (or their Chinese names).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from guardstream.errors import ConfigurationError
from guardstream.guard.categories import HarmCategory
from guardstream.policy import GLOBAL_POLICY_ID

UNCATEGORIZED = "uncategorized"
"""Pseudo-category of a verdict that names no category."""

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(value: object) -> int:
    """``"10m"``, ``"1h"``, ``"30s"``, ``"250ms"``, ``"2d"`` or a number of milliseconds → ms."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(match.group(1)) * _UNIT_MS[match.group(2)]
    raise ValueError(f"not a duration: {value!r} (use e.g. 250ms, 30s, 10m, 1h, 2d)")


DurationMs = Annotated[int, BeforeValidator(parse_duration_ms), Field(ge=0)]


def normalize_category(name: str) -> str:
    """A category as rules and counts name it: the scenario slug, or ``uncategorized``."""
    if name.strip().lower() == UNCATEGORIZED:
        return UNCATEGORIZED
    try:
        return HarmCategory.parse(name).value
    except ValueError:
        return name.strip().lower()


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class WindowSpec(_Model):
    """A tumbling (``step`` = ``size``) or hopping (``step`` < ``size``) event-time window."""

    type: Literal["tumbling", "hopping"]
    size_ms: DurationMs = Field(alias="size")
    step_ms: DurationMs | None = Field(default=None, alias="step")

    @model_validator(mode="after")
    def _consistent(self) -> WindowSpec:
        if self.size_ms < 1000:
            raise ValueError("window size must be at least 1s")
        if self.type == "tumbling":
            if self.step_ms is not None and self.step_ms != self.size_ms:
                raise ValueError("a tumbling window has no step (it equals the size)")
        else:
            if self.step_ms is None:
                raise ValueError("a hopping window needs a step")
            if not 0 < self.step_ms < self.size_ms or self.size_ms % self.step_ms:
                raise ValueError("a hopping window's step must be smaller than its size and divide it")
        return self

    @property
    def step(self) -> int:
        """Distance between window starts (the size, for tumbling windows)."""
        return self.size_ms if self.step_ms is None else self.step_ms


class ActionSpec(_Model):
    """What a firing asks for: a kind (``mute``, ``escalate``, ``flag_conversation``…), maybe how long."""

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    duration_ms: DurationMs | None = Field(default=None, alias="duration")


class Rule(_Model):
    """One escalation rule; see the module docstring for the three types."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    version: str = Field(default="1", min_length=1, max_length=32)
    description: str = ""
    type: Literal["count", "category", "rate"]
    scope: Literal["user", "conversation"]
    labels: tuple[Literal["unsafe", "review", "safe"], ...] = ("unsafe",)
    categories: tuple[str, ...] = ()
    min_category_score: float = Field(default=0.0, ge=0.0, le=1.0)
    policies: tuple[str, ...] = ()
    """Ids of the policies whose verdicts the rule counts; empty: every policy's."""
    window: WindowSpec
    threshold: int | None = Field(default=None, ge=1)
    min_events: int | None = Field(default=None, ge=1)
    min_ratio: float | None = Field(default=None, gt=0.0, le=1.0)
    action: ActionSpec

    @field_validator("categories", mode="before")
    @classmethod
    def _known_categories(cls, value: object) -> object:
        if not isinstance(value, (list, tuple)):
            return value
        out = []
        for name in value:
            if not isinstance(name, str):
                raise ValueError(f"category names are strings, got {name!r}")
            slug = normalize_category(name)
            if slug != UNCATEGORIZED and slug not in {c.value for c in HarmCategory}:
                HarmCategory.parse(name)  # raises with the accepted spellings
            out.append(slug)
        return tuple(dict.fromkeys(out))

    @model_validator(mode="after")
    def _fields_of_type(self) -> Rule:
        if not self.labels:
            raise ValueError("labels must name at least one of unsafe, review, safe")
        needs = {"count": {"threshold"}, "category": {"categories"}, "rate": {"min_events", "min_ratio"}}[self.type]
        for name in needs:
            if not getattr(self, name):
                raise ValueError(f"a {self.type} rule needs {name}")
        foreign = {"threshold", "min_events", "min_ratio"} - needs
        for name in foreign:
            if getattr(self, name) is not None:
                raise ValueError(f"{name} has no meaning for a {self.type} rule")
        return self

    @property
    def evidence_limit(self) -> int:
        """How many matching event ids a window keeps as evidence."""
        if self.type == "count":
            return self.threshold or 1
        if self.type == "category":
            return 1
        return 50

    def matches(self, label: str, categories: dict[str, float], policy: str = GLOBAL_POLICY_ID) -> bool:
        """Whether a verdict with this label and these {category: score}, judged by ``policy``, counts for the rule."""
        if label not in self.labels or (self.policies and policy not in self.policies):
            return False
        if not self.categories:
            return True
        if not categories:
            return UNCATEGORIZED in self.categories
        return any(score >= self.min_category_score and name in self.categories for name, score in categories.items())


class RuleSet(_Model):
    """The whole rules file: a version, the lateness grace period and the rules."""

    version: str = Field(min_length=1, max_length=64)
    grace_ms: DurationMs = Field(default=60_000, alias="grace")
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        ids = [rule.id for rule in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique: {', '.join(duplicates)}")
        return self

    def rule(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Parse and validate rules YAML; errors name the file and each offending field."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigurationError(f"{source}: expected a mapping with version, grace and rules")
    try:
        return RuleSet.model_validate(loaded)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(top)"
            problems.append(f"  {where}: {error['msg']}")
        raise ConfigurationError(f"{source}: invalid rules:\n" + "\n".join(problems)) from None


def load_rules(path: Path) -> RuleSet:
    """Read and validate the rules file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read rules file {path}: {exc}") from None
    return parse_rules(text, str(path))


def default_rules_path() -> Path:
    """The rules file shipped with the agent."""
    return Path(__file__).with_name("rules.default.yaml")
