"""What ``guardstream escalate status`` shows: the rules, and the hottest keys now.

"Now" is the agent's table as its changelog topic holds it (the latest value of every key), read
to its end: the same data a restarted agent recovers. A key's heat is the most unsafe, then the
most review, verdicts in any of its open windows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from guardstream.settings import KafkaSettings
from workers.escalation.engine import KeyState
from workers.escalation.processor import LATE_PREFIX, STREAM_PREFIX
from workers.escalation.rules import RuleSet
from workers.kafka_clients import one_off_reader, read_to_end


@dataclass(frozen=True, slots=True)
class HotKey:
    scope: str
    key: str
    unsafe: int
    review: int
    total: int
    window_start_ms: int
    window_end_ms: int
    categories: dict[str, int]
    open_windows: int
    fired_windows: int


@dataclass(slots=True)
class EscalationStatus:
    rules_version: str
    grace_ms: int
    rules: list[dict[str, Any]]
    stream_time_ms: dict[int, int] = field(default_factory=dict)
    late_verdicts: int = 0
    keys: int = 0
    hottest_users: list[HotKey] = field(default_factory=list)
    hottest_conversations: list[HotKey] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_rules(ruleset: RuleSet) -> list[dict[str, Any]]:
    """One plain dict per rule, as the status shows it."""
    out = []
    for rule in ruleset.rules:
        if rule.type == "count":
            condition = f">= {rule.threshold} {'/'.join(rule.labels)}"
        elif rule.type == "category":
            condition = f"any {'/'.join(rule.labels)} in {', '.join(rule.categories)}"
        else:
            condition = f">= {rule.min_events} {'/'.join(rule.labels)} and >= {rule.min_ratio:.0%} of verdicts"
        if rule.categories and rule.type != "category":
            condition += f" in {', '.join(rule.categories)}"
        window = f"{rule.window.type} {rule.window.size_ms // 1000}s"
        if rule.window.type == "hopping":
            window += f" every {rule.window.step // 1000}s"
        out.append(
            {
                "id": rule.id,
                "version": rule.version,
                "type": rule.type,
                "scope": rule.scope,
                "window": window,
                "condition": condition,
                "action": rule.action.kind,
                "duration_ms": rule.action.duration_ms,
            }
        )
    return out


def _hot(scope: str, key: str, state: KeyState) -> HotKey | None:
    if not state.windows:
        return None
    best = max(
        state.windows.values(),
        key=lambda w: (w.labels.get("unsafe", 0), w.labels.get("review", 0), w.total, w.start_ms),
    )
    return HotKey(
        scope=scope,
        key=key,
        unsafe=best.labels.get("unsafe", 0),
        review=best.labels.get("review", 0),
        total=best.total,
        window_start_ms=best.start_ms,
        window_end_ms=best.end_ms,
        categories=dict(best.categories),
        open_windows=len(state.windows),
        fired_windows=sum(1 for w in state.windows.values() if w.fired),
    )


def summarize(ruleset: RuleSet, table: dict[str, Any], hottest: int) -> EscalationStatus:
    """The status from the table's latest values (``{key: decoded JSON value}``)."""
    status = EscalationStatus(rules_version=ruleset.version, grace_ms=ruleset.grace_ms, rules=describe_rules(ruleset))
    hot: dict[str, list[HotKey]] = {"user": [], "conversation": []}
    for key, value in table.items():
        if key.startswith(STREAM_PREFIX):
            status.stream_time_ms[int(key[len(STREAM_PREFIX) :])] = int(value)
        elif key.startswith(LATE_PREFIX):
            status.late_verdicts += int(value)
        else:
            scope, _, ident = key.partition(":")
            if scope in hot:
                status.keys += 1
                item = _hot(scope, ident, KeyState.from_json(value))
                if item is not None and (item.unsafe or item.review):
                    hot[scope].append(item)
    order = lambda h: (-h.unsafe, -h.review, -h.total, h.key)  # noqa: E731
    status.hottest_users = sorted(hot["user"], key=order)[:hottest]
    status.hottest_conversations = sorted(hot["conversation"], key=order)[:hottest]
    return status


def read_table(kafka: KafkaSettings, changelog_topic: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """The latest value of every key of the windows table, from its changelog topic."""
    table: dict[str, Any] = {}
    for raw_key, raw_value in read_to_end(one_off_reader(kafka, "escalation-reader"), changelog_topic, None, timeout_s):
        if raw_key is None:
            continue
        key = json.loads(raw_key)
        if raw_value is None:
            table.pop(key, None)
        else:
            table[key] = json.loads(raw_value)
    return table


def read_status(kafka: KafkaSettings, changelog_topic: str, ruleset: RuleSet, hottest: int) -> EscalationStatus:
    return summarize(ruleset, read_table(kafka, changelog_topic), hottest)
