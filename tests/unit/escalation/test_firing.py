"""Counting and firing, as pure logic over a dict table (no Kafka, no faust)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from guardstream.records import Action, Verdict
from guardstream.serde import encode_record
from tests.unit.escalation.factory import MINUTE, RULES_YAML, T0, make_verdict
from workers.escalation.engine import action_id, close_quantum_ms, crosses_close_boundary
from workers.escalation.processor import LATE_PREFIX, STREAM_PREFIX, WindowProcessor
from workers.escalation.rules import RuleSet, parse_rules
from workers.escalation.windows import Window


class Harness:
    """Feeds verdicts through a WindowProcessor the way the keyed topic would (both scopes)."""

    def __init__(
        self, ruleset: RuleSet, table: dict[str, Any] | None = None, already_out: set[str] | None = None
    ) -> None:
        self.actions: list[Action] = []
        self.table: dict[str, Any] = {} if table is None else table
        self.processor = WindowProcessor(ruleset, self.table, self._publish, clock_ms=lambda: 42)
        self.processor.reset_after_assignment(already_out or set())
        self.offset = 0

    async def _publish(self, action: Action) -> None:
        self.actions.append(action)

    def feed(self, *verdicts: Verdict, offset: int | None = None) -> list[Action]:
        before = len(self.actions)
        for verdict in verdicts:
            position = self.offset if offset is None else offset
            self.offset = max(self.offset, position + 1)
            value = encode_record(verdict)
            for key in (f"user:{verdict.user_id}", f"conversation:{verdict.conversation_id}"):
                asyncio.run(self.processor.process(key, value, (0, position), 0))
        return self.actions[before:]


@pytest.fixture()
def rules() -> RuleSet:
    return parse_rules(RULES_YAML)


def test_count_rule_fires_once_on_the_third_unsafe_in_the_window(rules: RuleSet) -> None:
    h = Harness(rules)
    assert h.feed(make_verdict("e1", at_ms=T0), make_verdict("e2", at_ms=T0 + MINUTE)) == []
    (action,) = h.feed(make_verdict("e3", at_ms=T0 + 9 * MINUTE, conversation="c2"))
    assert action.kind == "mute" and action.rule_id == "repeat-unsafe" and action.rule_version == "1"
    assert action.user_id == "u1" and action.conversation_id == "c2"
    assert (action.window_start_ms, action.window_end_ms) == (T0, T0 + 10 * MINUTE)
    assert action.evidence_event_ids == ("e1", "e2", "e3")
    assert action.counts["matched"] == 3 and action.counts["unsafe"] == 3
    assert action.counts["category:uncategorized"] == 3
    assert action.duration_ms == 3_600_000 and action.created_at_ms == 42
    rule = rules.rule("repeat-unsafe")
    assert rule is not None
    assert action.action_id == action_id(rule, "user", "u1", Window(T0, T0 + 10 * MINUTE))
    assert h.feed(make_verdict("e4", at_ms=T0 + 9 * MINUTE)) == [], "never twice for the same window"


def test_count_rule_does_not_add_across_a_window_boundary(rules: RuleSet) -> None:
    h = Harness(rules)
    actions = h.feed(
        make_verdict("e1", at_ms=T0 + 8 * MINUTE),
        make_verdict("e2", at_ms=T0 + 9 * MINUTE),
        make_verdict("e3", at_ms=T0 + 10 * MINUTE),  # the next tumbling window starts here
    )
    assert actions == []
    (action,) = h.feed(make_verdict("e4", at_ms=T0 + 11 * MINUTE), make_verdict("e5", at_ms=T0 + 19 * MINUTE))
    assert action.window_start_ms == T0 + 10 * MINUTE and action.evidence_event_ids == ("e3", "e4", "e5")


def test_count_rule_ignores_other_labels_and_other_users(rules: RuleSet) -> None:
    h = Harness(rules)
    verdicts = [make_verdict(f"r{i}", label="review", at_ms=T0 + i) for i in range(5)]
    verdicts += [make_verdict(f"s{i}", label="unsafe", user=f"other{i}", at_ms=T0 + i) for i in range(5)]
    assert [a.rule_id for a in h.feed(*verdicts)] == []


def test_category_rule_fires_on_the_first_match_once_per_window(rules: RuleSet) -> None:
    h = Harness(rules)
    crime = {"illegal_activities": 0.9}
    assert h.feed(make_verdict("e0", at_ms=T0, categories={})) == [], "no category: not in illegal_activities"
    assert h.feed(make_verdict("e1", at_ms=T0 + MINUTE, label="review", categories=crime)) == []
    (action,) = h.feed(make_verdict("e2", at_ms=T0 + 2 * MINUTE, categories=crime))
    assert action.kind == "escalate" and action.evidence_event_ids == ("e2",)
    assert action.counts["category:illegal_activities"] == 2 and action.counts["matched"] == 1
    assert [a.rule_id for a in h.feed(make_verdict("e3", at_ms=T0 + 3 * MINUTE, categories=crime))] == ["repeat-unsafe"]
    (later,) = h.feed(make_verdict("e4", at_ms=T0 + 61 * MINUTE, categories=crime))
    assert later.rule_id == "crime" and later.window_start_ms == T0 + 60 * MINUTE


def test_rate_rule_judges_the_whole_window_when_it_closes(rules: RuleSet) -> None:
    h = Harness(rules)
    reviews = [
        make_verdict(f"r{i}", label="review", user=f"u{i}", conversation="c9", at_ms=T0 + i * MINUTE) for i in range(3)
    ]
    safes = [make_verdict(f"s{i}", label="safe", user="x", conversation="c9", at_ms=T0 + 3 * MINUTE) for i in range(2)]
    assert h.feed(*reviews, *safes) == [], "3 of 5 are review, but a rate rule waits for the window to close"
    # Stream time reaching T0 + 5m + 1m grace closes window [T0-5m, T0+5m); [T0, T0+10m) closes at T0+11m.
    first = h.feed(make_verdict("tick1", label="safe", user="z", conversation="z", at_ms=T0 + 6 * MINUTE))
    assert [(a.rule_id, a.window_start_ms, a.conversation_id) for a in first] == [
        ("review-rate", T0 - 5 * MINUTE, "c9")
    ]
    assert first[0].counts["matched"] == 3 and first[0].counts["total"] == 5 and first[0].kind == "flag_conversation"
    assert set(first[0].evidence_event_ids) == {"r0", "r1", "r2"}
    second = h.feed(make_verdict("tick2", label="safe", user="z", conversation="z", at_ms=T0 + 11 * MINUTE))
    assert [(a.rule_id, a.window_start_ms) for a in second] == [("review-rate", T0)]
    assert "conversation:c9" not in h.table, "closed windows are forgotten"


def test_rate_rule_below_ratio_or_count_does_not_fire(rules: RuleSet) -> None:
    h = Harness(rules)
    low_ratio = [make_verdict(f"r{i}", label="review", conversation="c1", at_ms=T0 + i) for i in range(3)]
    low_ratio += [make_verdict(f"s{i}", label="safe", conversation="c1", at_ms=T0 + 10 + i) for i in range(4)]
    too_few = [make_verdict(f"q{i}", label="review", conversation="c2", at_ms=T0 + i) for i in range(2)]
    h.feed(*low_ratio, *too_few)
    assert h.feed(make_verdict("tick", label="safe", conversation="z", at_ms=T0 + 30 * MINUTE)) == []


def test_late_verdict_within_grace_counts_and_beyond_grace_is_dropped(rules: RuleSet) -> None:
    h = Harness(rules)
    h.feed(make_verdict("e1", at_ms=T0 + 1 * MINUTE), make_verdict("e2", at_ms=T0 + 2 * MINUTE))
    h.feed(make_verdict("other", label="safe", user="z", conversation="z", at_ms=T0 + 10 * MINUTE + 30_000))
    (action,) = h.feed(make_verdict("e3-late-in-grace", at_ms=T0 + 3 * MINUTE))
    assert action.window_start_ms == T0 and action.evidence_event_ids[-1] == "e3-late-in-grace"

    h2 = Harness(rules)
    h2.feed(make_verdict("e1", at_ms=T0 + 1 * MINUTE), make_verdict("e2", at_ms=T0 + 2 * MINUTE))
    h2.feed(make_verdict("other", label="safe", user="z", conversation="z", at_ms=T0 + 11 * MINUTE))
    assert h2.feed(make_verdict("e3-too-late", at_ms=T0 + 3 * MINUTE)) == []
    # The conversation's windows have all closed: dropped. The user's 10-minute window has closed
    # too, but the user's 1-hour window (category rule) is open and still counts it.
    assert h2.processor.metrics.late == 1 and h2.processor.metrics.late_windows == 3
    assert h2.table[f"{LATE_PREFIX}0"] == 1
    assert h2.table["user:u1"]["w"][f"crime@{T0}"]["n"] == 3


def test_redelivered_verdict_is_not_counted_twice(rules: RuleSet) -> None:
    h = Harness(rules)
    h.feed(make_verdict("e1", at_ms=T0), offset=10)
    h.feed(make_verdict("e1", at_ms=T0), offset=10)
    h.feed(make_verdict("e2", at_ms=T0 + 1), offset=11)
    assert h.actions == []
    assert h.processor.metrics.duplicates == 2
    (action,) = h.feed(make_verdict("e3", at_ms=T0 + 2), offset=12)
    assert action.evidence_event_ids == ("e1", "e2", "e3")


def test_restart_from_the_table_neither_loses_nor_repeats_an_action(rules: RuleSet) -> None:
    h = Harness(rules)
    h.feed(make_verdict("e1", at_ms=T0), make_verdict("e2", at_ms=T0 + 1))
    table_before_e3 = copy.deepcopy(h.table)
    (action,) = h.feed(make_verdict("e3", at_ms=T0 + 2))

    # Killed after the action's acknowledgement but before the table change was durable: the
    # restarted agent reprocesses e3 from the older table and knows the action is already out.
    restarted = Harness(rules, table=copy.deepcopy(table_before_e3), already_out={action.action_id})
    restarted.offset = 2
    assert restarted.feed(make_verdict("e3", at_ms=T0 + 2)) == []
    assert restarted.processor.metrics.already_out == 1
    assert restarted.feed(make_verdict("e4", at_ms=T0 + 3)) == []

    # Killed before the action went out: the reprocessed e3 fires it.
    lost = Harness(rules, table=copy.deepcopy(table_before_e3))
    lost.offset = 2
    (again,) = lost.feed(make_verdict("e3", at_ms=T0 + 2))
    assert again.action_id == action.action_id

    # Killed after everything was durable: the table alone prevents a second action.
    durable = Harness(rules, table=copy.deepcopy(h.table))
    durable.offset = 2
    assert durable.feed(make_verdict("e3", at_ms=T0 + 2), make_verdict("e4", at_ms=T0 + 3)) == []


def test_stream_time_is_stored_only_when_a_close_boundary_is_crossed(rules: RuleSet) -> None:
    assert close_quantum_ms(rules) == 5 * MINUTE
    assert crosses_close_boundary(T0, T0 + 6 * MINUTE, rules)
    assert not crosses_close_boundary(T0 + 1 * MINUTE + 1, T0 + 5 * MINUTE, rules)
    assert not crosses_close_boundary(T0 + 5 * MINUTE, T0 + 4 * MINUTE, rules)
    h = Harness(rules)
    h.feed(make_verdict("e1", label="safe", at_ms=T0 + 2 * MINUTE))
    stored = h.table[f"{STREAM_PREFIX}0"]
    h.feed(make_verdict("e2", label="safe", at_ms=T0 + 3 * MINUTE))
    assert h.table[f"{STREAM_PREFIX}0"] == stored
    h.feed(make_verdict("e3", label="safe", at_ms=T0 + 7 * MINUTE))
    assert h.table[f"{STREAM_PREFIX}0"] == T0 + 7 * MINUTE


def test_rules_removed_between_runs_drop_their_windows(rules: RuleSet) -> None:
    h = Harness(rules)
    h.feed(make_verdict("e1", at_ms=T0), make_verdict("e2", at_ms=T0 + 1))
    fewer = parse_rules(
        RULES_YAML.replace("threshold: 3", "threshold: 2").replace("id: repeat-unsafe", "id: repeat-unsafe-2")
    )
    again = Harness(fewer, table=h.table)
    again.offset = 2
    assert again.feed(make_verdict("e3", at_ms=T0 + 2)) == [], "a new rule counts from its start"
    assert not any(k.startswith("repeat-unsafe@") for k in h.table["user:u1"]["w"])
    (action,) = again.feed(make_verdict("e4", at_ms=T0 + 3))
    assert action.rule_id == "repeat-unsafe-2" and action.evidence_event_ids == ("e3", "e4")


def test_processor_agrees_with_the_independent_oracle_on_a_seeded_stream(rules: RuleSet) -> None:
    from tests.unit.escalation.scenario import expected_actions, generate

    scenario = generate(3000)
    expected = expected_actions(scenario, rules)
    assert {rule for rule, _, _ in expected} == {"repeat-unsafe", "crime", "review-rate"}
    h = Harness(rules)
    actions = h.feed(*scenario.verdicts)
    got = {
        (a.rule_id, a.user_id if a.rule_id != "review-rate" else a.conversation_id, a.window_start_ms): a
        for a in actions
    }
    assert len(got) == len(actions), "one action per (rule, key, window)"
    assert set(got) == set(expected)
    for key, action in got.items():
        if action.rule_id != "review-rate":
            assert list(action.evidence_event_ids) == expected[key]
    assert h.processor.metrics.late == 2 * len(scenario.late_event_ids)
