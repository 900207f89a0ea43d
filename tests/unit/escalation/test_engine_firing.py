"""Which windows fire and when, as the engine's pure functions decide it: eager rules at once,
rate rules when their window closes, closed windows forgotten, and the Action a firing becomes."""

from __future__ import annotations

import copy
import hashlib

import pytest

from guardstream.records import Action
from tests.unit.escalation.factory import MINUTE, RULES_YAML, T0
from workers.escalation.engine import (
    Firing,
    KeyState,
    WindowCounts,
    action_id,
    close_quantum_ms,
    closing_firings,
    crosses_close_boundary,
    drop_closed,
    eager_firings,
    mark_fired,
    to_action,
)
from workers.escalation.rules import Rule, RuleSet, parse_rules
from workers.escalation.windows import Window

ENGINE_RULES_YAML = """
version: "engine-test"
grace: 1m
rules:
  - id: burst
    type: count
    scope: user
    labels: [unsafe]
    window: {type: tumbling, size: 10m}
    threshold: 2
    action: {kind: mute, duration: 1h}
  - id: crime
    type: category
    scope: user
    categories: [illegal_activities]
    window: {type: tumbling, size: 1h}
    action: {kind: escalate}
  - id: user-rate
    type: rate
    scope: user
    labels: [review]
    window: {type: hopping, size: 10m, step: 5m}
    min_events: 2
    min_ratio: 0.5
    action: {kind: flag_user}
  - id: thread-burst
    type: count
    scope: conversation
    window: {type: tumbling, size: 10m}
    threshold: 2
    action: {kind: flag_conversation}
  - id: thread-rate
    type: rate
    scope: conversation
    labels: [review]
    window: {type: tumbling, size: 10m}
    min_events: 1
    min_ratio: 1.0
    action: {kind: flag_conversation, duration: 30m}
"""

TEN = 10 * MINUTE
HOUR = 60 * MINUTE


@pytest.fixture()
def rules() -> RuleSet:
    return parse_rules(ENGINE_RULES_YAML)


def _rule(rules: RuleSet, rule_id: str) -> Rule:
    rule = rules.rule(rule_id)
    assert rule is not None
    return rule


def _w(start: int, size: int, matched: int, total: int | None = None, *, fired: bool = False) -> WindowCounts:
    return WindowCounts(start, start + size, total=matched if total is None else total, matched=matched, fired=fired)


# --- eager rules (count, category) --------------------------------------------------------------


def test_eager_firings_list_unfired_holding_count_and_category_windows_of_the_scope_oldest_first(
    rules: RuleSet,
) -> None:
    windows = {  # inserted neither in start order nor in key order
        f"burst@{TEN}": _w(TEN, TEN, matched=2),
        f"crime@{HOUR}": _w(HOUR, HOUR, matched=1),
        "crime@0": _w(0, HOUR, matched=1),
        "burst@0": _w(0, TEN, matched=9, fired=True),  # fired: never again
        "user-rate@0": _w(0, TEN, matched=9),  # rate: waits for the close
        "thread-burst@0": _w(0, TEN, matched=9),  # the conversation scope's
        "retired@0": _w(0, TEN, matched=9),  # its rule is gone
        f"burst@{2 * TEN}": _w(2 * TEN, TEN, matched=1),  # below the threshold
    }
    state = KeyState(partition=0, windows=windows)
    assert eager_firings(state, rules, "user", "u1") == [
        Firing(_rule(rules, "crime"), "user", "u1", "crime@0", windows["crime@0"]),
        Firing(_rule(rules, "burst"), "user", "u1", f"burst@{TEN}", windows[f"burst@{TEN}"]),
        Firing(_rule(rules, "crime"), "user", "u1", f"crime@{HOUR}", windows[f"crime@{HOUR}"]),
    ]
    assert eager_firings(state, rules, "conversation", "c1") == [
        Firing(_rule(rules, "thread-burst"), "conversation", "c1", "thread-burst@0", windows["thread-burst@0"]),
    ]


def test_a_count_rule_holds_from_exactly_its_threshold(rules: RuleSet) -> None:
    for matched, fires in ((0, False), (1, False), (2, True), (3, True)):
        state = KeyState(partition=0, windows={"burst@0": _w(0, TEN, matched=matched, total=5)})
        assert [f.window_key for f in eager_firings(state, rules, "user", "u1")] == (["burst@0"] if fires else []), (
            matched
        )


def test_a_category_rule_holds_from_its_first_match(rules: RuleSet) -> None:
    for matched, fires in ((0, False), (1, True), (2, True)):
        state = KeyState(partition=0, windows={"crime@0": _w(0, HOUR, matched=matched, total=3)})
        assert [f.window_key for f in eager_firings(state, rules, "user", "u1")] == (["crime@0"] if fires else []), (
            matched
        )


def test_an_empty_state_fires_nothing(rules: RuleSet) -> None:
    state = KeyState(partition=0)
    assert eager_firings(state, rules, "user", "u1") == []
    assert closing_firings(state, rules, "user", "u1", 10**15) == []
    assert drop_closed(state, rules, 10**15) == 0


# --- rate rules, judged at the close ------------------------------------------------------------


def _judged(rules: RuleSet, rule_id: str, scope: str, matched: int, total: int) -> bool:
    """Whether a closed window of ``rule_id`` with these counts fires."""
    state = KeyState(partition=0, windows={f"{rule_id}@0": _w(0, TEN, matched=matched, total=total)})
    return bool(closing_firings(state, rules, scope, "k", TEN + MINUTE))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("matched", "total", "fires"),
    [
        (2, 4, True),  # ratio exactly 0.5 and exactly min_events
        (2, 5, False),  # ratio just under 0.5
        (3, 7, False),
        (3, 6, True),
        (1, 1, False),  # ratio 1.0, but fewer than min_events
        (0, 4, False),
    ],
)
def test_a_rate_rule_needs_both_min_events_and_min_ratio(rules: RuleSet, matched: int, total: int, fires: bool) -> None:
    assert _judged(rules, "user-rate", "user", matched, total) is fires


def test_a_rate_rule_with_min_events_one_fires_on_a_single_matching_verdict(rules: RuleSet) -> None:
    assert _judged(rules, "thread-rate", "conversation", 1, 1) is True
    assert _judged(rules, "thread-rate", "conversation", 1, 2) is False, "min_ratio 1.0: every verdict must match"


def test_a_rate_window_whose_stored_total_is_zero_does_not_hold_instead_of_dividing_by_zero(rules: RuleSet) -> None:
    assert _judged(rules, "thread-rate", "conversation", 1, 0) is False


def test_closing_firings_list_closed_unfired_holding_rate_windows_of_the_scope_oldest_first(rules: RuleSet) -> None:
    # Starts 900000 and 1200000 sort the other way round as text.
    windows = {
        "user-rate@1200000": _w(1_200_000, TEN, matched=2, total=4),  # closes at 1_860_000
        "user-rate@900000": _w(900_000, TEN, matched=2, total=3),  # closes at 1_560_000
        "user-rate@600000": _w(600_000, TEN, matched=5, fired=True),
        "user-rate@300000": _w(300_000, TEN, matched=1),  # below min_events
        "user-rate@1500000": _w(1_500_000, TEN, matched=2),  # still open
        "burst@1200000": _w(1_200_000, TEN, matched=5),  # a count rule: eager, not judged here
        "thread-rate@1200000": _w(1_200_000, TEN, matched=1),  # the conversation scope's
        "retired@1200000": _w(1_200_000, TEN, matched=5),  # its rule is gone
    }
    state = KeyState(partition=0, windows=windows)
    user_rate = _rule(rules, "user-rate")
    assert closing_firings(state, rules, "user", "u1", 1_860_000) == [
        Firing(user_rate, "user", "u1", "user-rate@900000", windows["user-rate@900000"]),
        Firing(user_rate, "user", "u1", "user-rate@1200000", windows["user-rate@1200000"]),
    ]
    assert [f.window_key for f in closing_firings(state, rules, "user", "u1", 1_860_000 - 1)] == ["user-rate@900000"]
    assert [f.window_key for f in closing_firings(state, rules, "user", "u1", 1_560_000 - 1)] == []
    assert closing_firings(state, rules, "conversation", "c1", 1_860_000) == [
        Firing(
            _rule(rules, "thread-rate"), "conversation", "c1", "thread-rate@1200000", windows["thread-rate@1200000"]
        ),
    ]


# --- forgetting closed windows, marking fired ---------------------------------------------------


def test_drop_closed_forgets_windows_closed_at_end_plus_grace_and_windows_of_removed_rules(rules: RuleSet) -> None:
    windows = {
        "burst@0": _w(0, TEN, matched=1),  # closes at 660000
        f"burst@{TEN}": _w(TEN, TEN, matched=1),  # closes at 1260000
        f"retired@{TEN}": _w(TEN, TEN, matched=1),  # open, but its rule is gone
        "crime@0": _w(0, HOUR, matched=1),
    }
    before = KeyState(partition=0, windows=windows)
    state = copy.deepcopy(before)
    assert drop_closed(state, rules, 660_000 - 1) == 1
    assert list(state.windows) == ["burst@0", f"burst@{TEN}", "crime@0"]
    state = copy.deepcopy(before)
    assert drop_closed(state, rules, 660_000) == 2
    assert list(state.windows) == [f"burst@{TEN}", "crime@0"]
    assert drop_closed(state, rules, HOUR + MINUTE) == 2
    assert state.windows == {}


def test_mark_fired_flags_the_state_window_named_by_the_firing(rules: RuleSet) -> None:
    state = KeyState(partition=0, windows={"burst@0": _w(0, TEN, matched=2), f"burst@{TEN}": _w(TEN, TEN, matched=2)})
    (first, _second) = eager_firings(state, rules, "user", "u1")
    reloaded = KeyState.from_json(state.to_json())  # the firing's counts are not the reloaded state's objects
    mark_fired(reloaded, first)
    assert reloaded.windows["burst@0"].fired is True
    assert reloaded.windows[f"burst@{TEN}"].fired is False
    assert [f.window_key for f in eager_firings(reloaded, rules, "user", "u1")] == [f"burst@{TEN}"]


def test_mark_fired_on_a_window_already_forgotten_changes_nothing(rules: RuleSet) -> None:
    state = KeyState(partition=0, windows={"burst@0": _w(0, TEN, matched=2)})
    (firing,) = eager_firings(state, rules, "user", "u1")
    del state.windows["burst@0"]
    mark_fired(state, firing)
    assert state.windows == {}


# --- actions ------------------------------------------------------------------------------------


def test_action_id_is_the_truncated_sha256_of_rule_version_scope_key_and_window(rules: RuleSet) -> None:
    burst = _rule(rules, "burst")
    text = "\x1f".join(["burst", "1", "user", "u1", "0", "600000"])
    expected = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    assert action_id(burst, "user", "u1", Window(0, TEN)) == expected
    assert len(expected) == 32
    assert (
        action_id(burst, "user", "ü", Window(0, TEN))
        == hashlib.sha256("burst\x1f1\x1fuser\x1fü\x1f0\x1f600000".encode()).hexdigest()[:32]
    )


def test_action_ids_are_distinct_when_any_part_differs(rules: RuleSet) -> None:
    burst = _rule(rules, "burst")
    ids = [
        action_id(burst, "user", "u1", Window(0, TEN)),
        action_id(burst.model_copy(update={"version": "2"}), "user", "u1", Window(0, TEN)),
        action_id(_rule(rules, "crime"), "user", "u1", Window(0, TEN)),
        action_id(burst, "conversation", "u1", Window(0, TEN)),
        action_id(burst, "user", "u2", Window(0, TEN)),
        action_id(burst, "user", "u1", Window(TEN, 2 * TEN)),
        action_id(burst, "user", "u1", Window(0, 2 * TEN)),
    ]
    assert len(set(ids)) == len(ids)
    assert action_id(burst, "user", "u1", Window(0, TEN)) == ids[0], "deterministic"


def test_a_user_firing_becomes_an_action_on_that_user_in_the_last_matching_conversation(rules: RuleSet) -> None:
    burst = _rule(rules, "burst")
    counts = WindowCounts(
        0,
        TEN,
        total=3,
        matched=2,
        labels={"unsafe": 2, "safe": 1},
        categories={"uncategorized": 3},
        evidence=["e1", "e2"],
        counterpart="c7",
    )
    firing = Firing(burst, "user", "u1", "burst@0", counts)
    assert firing.action_id == action_id(burst, "user", "u1", Window(0, TEN))
    assert to_action(firing, 99) == Action(
        action_id=action_id(burst, "user", "u1", Window(0, TEN)),
        kind="mute",
        user_id="u1",
        conversation_id="c7",
        rule_id="burst",
        rule_version="1",
        window_start_ms=0,
        window_end_ms=TEN,
        counts={"matched": 2, "total": 3, "unsafe": 2, "safe": 1, "category:uncategorized": 3},
        evidence_event_ids=("e1", "e2"),
        created_at_ms=99,
        duration_ms=3_600_000,
    )


def test_a_conversation_firing_becomes_an_action_on_that_conversation_and_the_last_matching_user(
    rules: RuleSet,
) -> None:
    thread_rate = _rule(rules, "thread-rate")
    counts = WindowCounts(TEN, 2 * TEN, total=1, matched=1, labels={"review": 1}, evidence=["r1"], counterpart="u3")
    action = to_action(Firing(thread_rate, "conversation", "c1", f"thread-rate@{TEN}", counts), 7)
    assert action == Action(
        action_id=action_id(thread_rate, "conversation", "c1", Window(TEN, 2 * TEN)),
        kind="flag_conversation",
        user_id="u3",
        conversation_id="c1",
        rule_id="thread-rate",
        rule_version="1",
        window_start_ms=TEN,
        window_end_ms=2 * TEN,
        counts={"matched": 1, "total": 1, "review": 1},
        evidence_event_ids=("r1",),
        created_at_ms=7,
        duration_ms=30 * MINUTE,
    )


def test_an_action_without_a_duration_and_without_a_counterpart_carries_none(rules: RuleSet) -> None:
    crime = _rule(rules, "crime")
    action = to_action(Firing(crime, "user", "u1", "crime@0", WindowCounts(0, HOUR, total=1)), 1)
    assert action.duration_ms is None and action.conversation_id is None and action.user_id == "u1"
    assert action.evidence_event_ids == () and action.counts == {"matched": 0, "total": 1}


# --- when stream time may close a window --------------------------------------------------------


def test_the_close_quantum_is_the_gcd_of_every_rule_step_and_size(rules: RuleSet) -> None:
    assert close_quantum_ms(rules) == 5 * MINUTE, "the hopping rule's 5m step, not the last rule's 10m"
    tumbling = parse_rules(RULES_YAML.replace("{type: hopping, size: 10m, step: 5m}", "{type: tumbling, size: 15m}"))
    assert close_quantum_ms(tumbling) == 5 * MINUTE, "gcd(10m, 1h, 15m)"
    single = parse_rules(RULES_YAML.split("  - id: crime")[0])
    assert close_quantum_ms(single) == TEN


def test_stream_time_crosses_a_close_boundary_exactly_when_it_reaches_a_quantum_plus_grace() -> None:
    rules = parse_rules(RULES_YAML)  # quantum 5m, grace 1m: windows close at T0 + k·5m + 1m
    boundary = T0 + MINUTE
    assert crosses_close_boundary(boundary - 1, boundary, rules)
    assert crosses_close_boundary(boundary - 5 * MINUTE, boundary, rules)
    assert not crosses_close_boundary(boundary - 5 * MINUTE, boundary - 1, rules)
    assert not crosses_close_boundary(boundary, boundary + 5 * MINUTE - 1, rules)
    assert crosses_close_boundary(boundary, boundary + 5 * MINUTE, rules)
    assert not crosses_close_boundary(boundary, boundary, rules)
    assert not crosses_close_boundary(boundary + 6 * MINUTE, boundary, rules), "stream time never goes back"


def test_a_crossing_from_the_initial_stream_time_is_exact_integer_arithmetic() -> None:
    rules = parse_rules(RULES_YAML)
    quantum, grace = 5 * MINUTE, MINUTE
    k = -(2**62) // quantum  # near the processor's NO_TIME, where floats cannot tell 1 ms apart
    boundary = k * quantum + grace
    assert crosses_close_boundary(boundary - 1, boundary, rules)
    assert not crosses_close_boundary(boundary, boundary + quantum - 1, rules)
    assert crosses_close_boundary(-(2**62), T0, rules)
