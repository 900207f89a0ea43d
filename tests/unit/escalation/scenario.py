"""A seeded stream of verdicts and an independent oracle of the actions it must produce.

The oracle does not share the agent's code: it groups the verdicts that are not deliberately late
by (rule, key, window) and applies each rule's condition to the whole group. Which windows hold an
instant and which verdicts a rule counts are derived here again from their definitions (an
epoch-aligned window ``[k·step, k·step + size)``; the rule's labels, categories and minimum score),
not with the agent's ``windows_containing`` and ``Rule.matches``: a bug there cannot agree with itself.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from guardstream.records import Verdict
from tests.unit.escalation.factory import MINUTE, T0, make_verdict
from workers.escalation.rules import Rule, RuleSet, WindowSpec


@dataclass(frozen=True)
class Scenario:
    verdicts: list[Verdict]
    late_event_ids: frozenset[str]


def generate(n: int, seed: int = 7, late_every: int = 97, ticks: int = 40) -> Scenario:
    """``n`` verdicts one second apart (event time), a few hot users and conversations, some
    verdicts shifted two hours into the past (late for every window), then ``ticks`` safe
    verdicts of distinct keys far in the future that close every window on every partition."""
    rng = random.Random(seed)
    users = [f"user-{i}" for i in range(120)]
    hot_users = set(users[:12])
    conversations = [f"conv-{i}" for i in range(80)]
    hot_conversations = set(conversations[:8])
    verdicts: list[Verdict] = []
    late: set[str] = set()
    for i in range(n):
        user = rng.choice(users)
        conversation = rng.choice(conversations)
        roll = rng.random()
        p_unsafe = 0.35 if user in hot_users else 0.04
        p_review = 0.6 if conversation in hot_conversations else 0.08
        label = "unsafe" if roll < p_unsafe else "review" if roll < p_unsafe + p_review else "safe"
        categories: dict[str, float] = {}
        if label != "safe":
            pick = rng.random()
            if pick < 0.15:
                categories = {"illegal_activities": 0.9}
            elif pick < 0.3:
                categories = {"illegal_activities": 0.3, "hate_abuse": 0.6}  # below the crime rule's minimum
            elif pick < 0.5:
                categories = {"hate_abuse": 0.7, "ethics_morality": 0.2}
        at = T0 + i * 1000
        event_id = f"v{i:06d}"
        if i and i % late_every == 0:
            at -= 120 * MINUTE
            late.add(event_id)
        verdicts.append(
            make_verdict(event_id, user=user, conversation=conversation, label=label, at_ms=at, categories=categories)
        )
    end = T0 + n * 1000 + 24 * 60 * MINUTE
    for k in range(ticks):
        verdicts.append(
            make_verdict(f"tick{k}", user=f"tick-u{k}", conversation=f"tick-c{k}", label="safe", at_ms=end + k)
        )
    return Scenario(verdicts, frozenset(late))


ActionKey = tuple[str, str, int]
"""(rule id, user or conversation id, window start)."""


def expected_actions(scenario: Scenario, ruleset: RuleSet) -> dict[ActionKey, list[str]]:
    """Every action the scenario must produce, with its evidence for count rules."""
    groups: dict[ActionKey, list[Verdict]] = defaultdict(list)
    for verdict in scenario.verdicts:
        if verdict.event_id in scenario.late_event_ids:
            continue
        for rule in ruleset.rules:
            key = verdict.user_id if rule.scope == "user" else verdict.conversation_id
            for start in window_starts(verdict.event_created_at_ms, rule.window):
                groups[(rule.id, key, start)].append(verdict)
    out: dict[ActionKey, list[str]] = {}
    for (rule_id, key, start), members in groups.items():
        rule = ruleset.rule(rule_id)
        assert rule is not None
        matched = [v for v in members if counts_for(rule, v)]
        if rule.type == "count":
            fires = len(matched) >= (rule.threshold or 1)
        elif rule.type == "category":
            fires = len(matched) >= 1
        else:
            fires = len(matched) >= (rule.min_events or 1) and len(matched) / len(members) >= (rule.min_ratio or 1)
        if fires:
            out[(rule_id, key, start)] = [v.event_id for v in matched[: rule.evidence_limit]]
    return out


def window_starts(instant_ms: int, spec: WindowSpec) -> list[int]:
    """Starts of the windows holding ``instant_ms``: every multiple of the step within a size of it,
    kept when ``start <= instant < start + size``."""
    size, step = spec.size_ms, spec.step_ms or spec.size_ms
    first = (instant_ms - size) // step * step
    return [start for start in range(first, instant_ms + 1, step) if start <= instant_ms < start + size]


def counts_for(rule: Rule, verdict: Verdict) -> bool:
    """A verdict counts when its label is one of the rule's and, if the rule names categories, one
    of them scores at least the rule's minimum; a verdict without categories counts only for a
    rule that names ``uncategorized``."""
    if verdict.label.value not in rule.labels:
        return False
    if not rule.categories:
        return True
    if not verdict.categories:
        return "uncategorized" in rule.categories
    return any(c.category in rule.categories and c.score >= rule.min_category_score for c in verdict.categories)
