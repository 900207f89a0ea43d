"""The escalation logic as pure functions over one key's state (no Kafka, no faust).

The agent keeps one :class:`KeyState` per key (``user:<id>`` or ``conversation:<id>``) in a faust
table; this module says how an observed verdict changes it and which rule windows fire:

1. :func:`observe` counts a verdict into every open window of every rule of its scope. A verdict
   already counted (same source partition and an offset not above the highest one counted for
   this key: a redelivery after a crash) changes nothing. A window that has closed (stream time
   ≥ end + grace) takes nothing: the verdict is *late* for it and only the late counter moves.
2. :func:`eager_firings` lists the windows of ``count`` and ``category`` rules whose condition
   holds and that have not fired; they fire at once.
3. :func:`closing_firings` lists the closed windows of ``rate`` rules whose condition holds;
   :func:`drop_closed` then forgets every closed window.

The caller produces an action for each firing, waits for the broker's acknowledgement, and only
then calls :func:`mark_fired`: a window is marked fired only once its action is durable.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from guardstream.policy import GLOBAL_POLICY_ID
from guardstream.records import Action, Decider, Verdict
from workers.escalation.rules import UNCATEGORIZED, Rule, RuleSet, normalize_category
from workers.escalation.windows import Window, window_at, windows_containing

Scope = Literal["user", "conversation"]
SCOPES: tuple[Scope, ...] = ("user", "conversation")


@dataclass(frozen=True, slots=True)
class Observation:
    """One verdict as one scope sees it."""

    event_id: str
    scope: Scope
    key: str
    counterpart: str
    label: str
    categories: dict[str, float]
    policy: str
    """The id of the policy that judged the verdict (tenant and channel policies: guardstream.policy)."""
    event_time_ms: int
    source_partition: int
    source_offset: int


def observations(verdict: Verdict, source_partition: int, source_offset: int) -> list[Observation]:
    """The verdict as seen by the user scope and by the conversation scope; none for a fallback
    verdict (made while the model was away: the model's revision of it is what counts)."""
    if verdict.decided_by is Decider.FALLBACK:
        return []
    categories: dict[str, float] = {}
    for item in verdict.categories:
        name = normalize_category(item.category)
        categories[name] = max(item.score, categories.get(name, 0.0))
    common: dict[str, Any] = {
        "event_id": verdict.event_id,
        "label": verdict.label.value,
        "categories": categories,
        "policy": verdict.policy_id or GLOBAL_POLICY_ID,
        "event_time_ms": verdict.event_created_at_ms,
        "source_partition": source_partition,
        "source_offset": source_offset,
    }
    return [
        Observation(scope="user", key=verdict.user_id, counterpart=verdict.conversation_id, **common),
        Observation(scope="conversation", key=verdict.conversation_id, counterpart=verdict.user_id, **common),
    ]


def state_key(scope: str, key: str) -> str:
    """The table key of one user or conversation."""
    return f"{scope}:{key}"


@dataclass(slots=True)
class WindowCounts:
    """What one rule saw for one key in one window."""

    start_ms: int
    end_ms: int
    total: int = 0
    matched: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    counterpart: str | None = None
    fired: bool = False

    def counts(self) -> dict[str, int]:
        """The counts an action reports: matched, total, by label and by category."""
        out = {"matched": self.matched, "total": self.total, **self.labels}
        out.update({f"category:{name}": n for name, n in self.categories.items()})
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "s": self.start_ms,
            "e": self.end_ms,
            "n": self.total,
            "m": self.matched,
            "l": self.labels,
            "c": self.categories,
            "ev": self.evidence,
            "cp": self.counterpart,
            "f": self.fired,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WindowCounts:
        return cls(
            start_ms=d["s"],
            end_ms=d["e"],
            total=d["n"],
            matched=d["m"],
            labels=dict(d["l"]),
            categories=dict(d["c"]),
            evidence=list(d["ev"]),
            counterpart=d.get("cp"),
            fired=bool(d.get("f")),
        )


@dataclass(slots=True)
class KeyState:
    """One key's open windows and the source positions already counted for it."""

    partition: int
    sources: dict[str, int] = field(default_factory=dict)
    windows: dict[str, WindowCounts] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"p": self.partition, "src": self.sources, "w": {k: w.to_json() for k, w in self.windows.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> KeyState:
        return cls(
            partition=d["p"],
            sources={str(k): int(v) for k, v in d["src"].items()},
            windows={k: WindowCounts.from_json(w) for k, w in d["w"].items()},
        )


def window_key(rule_id: str, start_ms: int) -> str:
    return f"{rule_id}@{start_ms}"


def split_window_key(key: str) -> tuple[str, int]:
    rule_id, _, start = key.rpartition("@")
    return rule_id, int(start)


@dataclass(frozen=True, slots=True)
class ObserveOutcome:
    duplicate: bool
    counted_windows: int
    late_windows: int

    @property
    def late(self) -> bool:
        """Late for every window it belonged to: the verdict was not counted at all."""
        return not self.duplicate and self.counted_windows == 0 and self.late_windows > 0


def observe(state: KeyState, obs: Observation, ruleset: RuleSet, stream_time_ms: int) -> ObserveOutcome:
    """Count ``obs`` into the open windows of its scope's rules (see the module docstring)."""
    source = str(obs.source_partition)
    if obs.source_offset <= state.sources.get(source, -1):
        return ObserveOutcome(duplicate=True, counted_windows=0, late_windows=0)
    state.sources[source] = obs.source_offset
    now = max(stream_time_ms, obs.event_time_ms)
    counted = late = 0
    categories = list(obs.categories) or [UNCATEGORIZED]
    for rule in ruleset.rules:
        if rule.scope != obs.scope:
            continue
        matched = rule.matches(obs.label, obs.categories, obs.policy)
        for window in windows_containing(obs.event_time_ms, rule.window):
            if window.is_closed(now, ruleset.grace_ms):
                late += 1
                continue
            key = window_key(rule.id, window.start_ms)
            counts = state.windows.get(key)
            if counts is None:
                counts = state.windows[key] = WindowCounts(window.start_ms, window.end_ms)
            counts.total += 1
            counts.labels[obs.label] = counts.labels.get(obs.label, 0) + 1
            for name in categories:
                counts.categories[name] = counts.categories.get(name, 0) + 1
            if matched:
                counts.matched += 1
                if len(counts.evidence) < rule.evidence_limit:
                    counts.evidence.append(obs.event_id)
                counts.counterpart = obs.counterpart
            counted += 1
    return ObserveOutcome(duplicate=False, counted_windows=counted, late_windows=late)


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule whose condition holds for one key in one window."""

    rule: Rule
    scope: Scope
    key: str
    window_key: str
    counts: WindowCounts

    @property
    def action_id(self) -> str:
        return action_id(self.rule, self.scope, self.key, Window(self.counts.start_ms, self.counts.end_ms))


def action_id(rule: Rule, scope: str, key: str, window: Window) -> str:
    """Deterministic id of the action of (rule, version, key, window): its idempotency key."""
    text = "\x1f".join((rule.id, rule.version, scope, key, str(window.start_ms), str(window.end_ms)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _holds(rule: Rule, counts: WindowCounts) -> bool:
    if rule.type == "count":
        return counts.matched >= (rule.threshold or 1)
    if rule.type == "category":
        return counts.matched >= 1
    return (
        counts.matched >= (rule.min_events or 1)
        and counts.total > 0
        and counts.matched / counts.total >= (rule.min_ratio or 1.0)
    )


def eager_firings(state: KeyState, ruleset: RuleSet, scope: Scope, key: str) -> list[Firing]:
    """Windows of ``count``/``category`` rules whose condition holds and that have not fired."""
    out = []
    for wkey, counts in sorted(state.windows.items(), key=lambda item: (item[1].start_ms, item[0])):
        rule = ruleset.rule(split_window_key(wkey)[0])
        if rule is None or rule.type == "rate" or counts.fired or rule.scope != scope:
            continue
        if _holds(rule, counts):
            out.append(Firing(rule, scope, key, wkey, counts))
    return out


def closing_firings(state: KeyState, ruleset: RuleSet, scope: Scope, key: str, stream_time_ms: int) -> list[Firing]:
    """Closed windows of ``rate`` rules whose condition holds and that have not fired."""
    out = []
    for wkey, counts in sorted(state.windows.items(), key=lambda item: (item[1].start_ms, item[0])):
        rule = ruleset.rule(split_window_key(wkey)[0])
        if rule is None or rule.type != "rate" or counts.fired or rule.scope != scope:
            continue
        window = window_at(counts.start_ms, rule.window)
        if window.is_closed(stream_time_ms, ruleset.grace_ms) and _holds(rule, counts):
            out.append(Firing(rule, scope, key, wkey, counts))
    return out


def drop_closed(state: KeyState, ruleset: RuleSet, stream_time_ms: int) -> int:
    """Forget closed windows (and windows of rules no longer in the rule set); returns how many."""
    gone = []
    for wkey, counts in state.windows.items():
        rule = ruleset.rule(split_window_key(wkey)[0])
        if rule is None or Window(counts.start_ms, counts.end_ms).is_closed(stream_time_ms, ruleset.grace_ms):
            gone.append(wkey)
    for wkey in gone:
        del state.windows[wkey]
    return len(gone)


def mark_fired(state: KeyState, firing: Firing) -> None:
    """Remember that the firing's action is durable, so the window never fires again."""
    counts = state.windows.get(firing.window_key)
    if counts is not None:
        counts.fired = True


def to_action(firing: Firing, created_at_ms: int) -> Action:
    """The Action record of a firing."""
    rule, counts = firing.rule, firing.counts
    user_id = firing.key if firing.scope == "user" else counts.counterpart
    conversation_id = firing.key if firing.scope == "conversation" else counts.counterpart
    return Action(
        action_id=firing.action_id,
        kind=rule.action.kind,
        user_id=user_id,
        conversation_id=conversation_id,
        rule_id=rule.id,
        rule_version=rule.version,
        window_start_ms=counts.start_ms,
        window_end_ms=counts.end_ms,
        counts=counts.counts(),
        evidence_event_ids=tuple(counts.evidence),
        created_at_ms=created_at_ms,
        duration_ms=rule.action.duration_ms,
    )


def close_quantum_ms(ruleset: RuleSet) -> int:
    """Every window of every rule closes at ``k × quantum + grace`` for some integer ``k``."""
    quantum = 0
    for rule in ruleset.rules:
        quantum = math.gcd(quantum, rule.window.step, rule.window.size_ms)
    return quantum


def crosses_close_boundary(old_ms: int, new_ms: int, ruleset: RuleSet) -> bool:
    """Whether stream time moving from ``old_ms`` to ``new_ms`` may close some window."""
    if new_ms <= old_ms:
        return False
    quantum = close_quantum_ms(ruleset)
    return (new_ms - ruleset.grace_ms) // quantum > (old_ms - ruleset.grace_ms) // quantum
